import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { run } from '../system/run.ts';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { createNetns, type LabNetns } from '../../test/lab/netns.ts';
import { isAlive } from '../../test/lab/proc.ts';
import { smallFsInRepoHost, type SmallFs } from '../../test/lab/small-fs.ts';
import { sessionPids, startRepoHost, type RepoHost } from '../../test/lab/sshd.ts';
import { expectTargetError, pattern } from './contract.ts';
import { openTarget, type OpenTargetOptions } from './open.ts';
import { TargetError, type BackupTarget } from './port.ts';

const dir = labDir('runs', runId(), labName('ssh-failures'));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => { while (cleanups.length) await cleanups.pop()!().catch(() => {}); });

/** Signals sshd and every process under it (the per-connection session processes). */
function signalTree(root: number, sig: NodeJS.Signals): number[] {
  const pids = [root, ...sessionPids({ pid: root })];
  for (const p of pids) { try { process.kill(p, sig); } catch { /* gone */ } }
  return pids;
}

async function open(host: RepoHost, sub: string, extra: OpenTargetOptions = {}): Promise<BackupTarget> {
  const t = await openTarget(host.url(sub), { identityFile: host.identityFile, knownHostsFile: host.knownHostsFile, ...extra });
  cleanups.push(() => t.close());
  await t.mkdirp('');
  return t;
}

/** Appends 1 MiB chunks until something fails; `at(i)` runs before chunk i. Returns the error and when it came. */
async function streamUntilFailure(t: BackupTarget, name: string, at: (i: number) => void, max = 4096): Promise<{ error: unknown; at: number }> {
  const f = await t.create(name);
  const chunk = pattern(1024 * 1024, 5);
  try {
    for (let i = 0; i < max; i++) {
      at(i);
      await f.append(chunk);
    }
    await f.commit();
  } catch (error) {
    return { error, at: Date.now() };
  }
  throw new Error('the stream never failed');
}

describe('SSH target failures', () => {
  let host: RepoHost;
  beforeAll(async () => { host = await startRepoHost({ label: 'target-fail' }); });
  afterAll(async () => { await host?.stop(); });

  it('a full repository file system rejects with no-space and leaves nothing under any name', async () => {
    const small: SmallFs = await smallFsInRepoHost(host, { sizeMiB: 8, sub: 'small' });
    cleanups.push(() => small.unmount());
    const t = await open(host, 'small');
    expect(await t.freeSpace('')).toBeLessThanOrEqual(8 * 1024 * 1024);
    await t.mkdirp('chain');
    const f = await t.create('chain/disk.qcow2.part');
    const chunk = pattern(1024 * 1024, 1);
    const err = await (async () => {
      for (let i = 0; i < 32; i++) await f.append(chunk);
      await f.commit();
    })().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TargetError);
    expect(err).toMatchObject({ code: 'no-space', message: expect.stringMatching(/No space left on device/) });
    await expectTargetError(f.append(chunk), 'no-space');
    await f.abort();
    expect(await t.list('chain')).toEqual([]);
    expect(readdirSync(path.join(small.dir, 'chain'))).toEqual([]);
    // a manifest too big for what is left: no-space, and no temporary file stays behind
    await expectTargetError(t.writeFileAtomic('chain/manifest.json', pattern(9 * 1024 * 1024)), 'no-space');
    expect(readdirSync(path.join(small.dir, 'chain'))).toEqual([]);
    await t.writeFileAtomic('chain/manifest.json', '{}');
    expect(readdirSync(path.join(small.dir, 'chain'))).toEqual(['manifest.json']);
  });

  it('sshd killed mid-stream: the pending append rejects with disconnected at once, and so does every later call', async () => {
    const victim = await startRepoHost({ label: 'target-kill' });
    cleanups.push(() => victim.stop());
    const t = await open(victim, 'k');
    let killedAt = 0;
    const { error, at } = await streamUntilFailure(t, 'disk.part', (i) => {
      if (i === 16) {
        killedAt = Date.now();
        const pids = signalTree(victim.pid, 'SIGKILL');
        expect(pids.length).toBeGreaterThan(1); // the master and the session processes
      }
    });
    expect(killedAt).toBeGreaterThan(0);
    expect(error).toBeInstanceOf(TargetError);
    expect(error).toMatchObject({ code: 'disconnected', message: expect.stringMatching(/^\[target\] \[ssh\] /) });
    expect(at - killedAt).toBeLessThan(2000);
    await expectTargetError(t.list(''), 'disconnected');
    await expectTargetError(t.create('other'), 'disconnected');
    expect(existsSync(path.join(victim.root, 'k', 'disk'))).toBe(false);
  });

  it('a host that stops answering is given up on after the keepalives: disconnected, no hang', async () => {
    const victim = await startRepoHost({ label: 'target-stop' });
    let frozen: number[] = [];
    cleanups.push(async () => { for (const p of frozen) { try { process.kill(p, 'SIGCONT'); } catch { /* gone */ } } await victim.stop(); });
    const t = await open(victim, 's', { keepaliveIntervalMs: 500 });
    let stoppedAt = 0;
    const { error, at } = await streamUntilFailure(t, 'disk.part', (i) => {
      if (i === 8) { stoppedAt = Date.now(); frozen = signalTree(victim.pid, 'SIGSTOP'); }
    });
    expect(error).toMatchObject({ code: 'disconnected', message: expect.stringMatching(/Keepalive timeout/i) });
    expect(at - stoppedAt).toBeLessThan(6000);
    expect(isAlive(victim.pid)).toBe(true); // still there, just silent
  });

  it('an idle connection stays up: the keepalives are answered', async () => {
    const t = await open(host, 'idle', { keepaliveIntervalMs: 300 });
    await new Promise((r) => setTimeout(r, 2500)); // more than 4 intervals without a call
    expect(await t.list('')).toEqual([]);
  });

  describe('host key pinning', () => {
    /** A TCP relay that records the SSH message types the client sends in the clear. */
    async function relay(target: RepoHost): Promise<{ port: number; types: () => number[][]; kexinit: () => { kex: string[]; hostKey: string[]; mac: string[] } }> {
      const conns: Buffer[][] = [];
      const server = net.createServer((c) => {
        const seen: Buffer[] = [];
        conns.push(seen);
        const up = net.connect(target.port, target.host);
        c.on('data', (b) => { seen.push(b); up.write(b); });
        up.on('data', (b) => c.write(b));
        c.on('close', () => up.destroy());
        up.on('close', () => c.destroy());
        c.on('error', () => {}); up.on('error', () => {});
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      cleanups.push(() => new Promise((r) => server.close(r)));
      /** per connection, the message types of the client's packets up to NEWKEYS */
      const types = () => conns.map((seen) => {
        const all = Buffer.concat(seen);
        let p = all.indexOf('\r\n') + 2; // after the version line
        const out: number[] = [];
        while (p + 6 <= all.length) {
          out.push(all[p + 5]);
          if (all[p + 5] === 21) break; // NEWKEYS: what follows is encrypted
          p += 4 + all.readUInt32BE(p);
        }
        return out;
      });
      /** the name-lists of the first connection's KEXINIT (sent in the clear): kex, host key, ciphers, MACs, … */
      const kexinit = () => {
        const all = Buffer.concat(conns[0]);
        let p = all.indexOf('\r\n') + 2 + 4 + 1 + 1 + 16; // packet length, padding length, type 20, cookie
        const lists: string[][] = [];
        for (let i = 0; i < 10; i++) {
          const n = all.readUInt32BE(p);
          lists.push(all.toString('latin1', p + 4, p + 4 + n).split(','));
          p += 4 + n;
        }
        return { kex: lists[0], hostKey: lists[1], mac: [...lists[4], ...lists[5]] };
      };
      return { port: (server.address() as net.AddressInfo).port, types, kexinit };
    }

    /** KEXINIT, KEX_ECDH_INIT, perhaps a DISCONNECT — never NEWKEYS: no authentication, no data. */
    function expectStoppedAtKeyExchange(types: number[][], connections: number): void {
      expect(types.length).toBe(connections);
      for (const t of types) {
        expect(t.slice(0, 2)).toEqual([20, 30]);
        expect(t).not.toContain(21);
        expect(t.slice(2).every((x) => x === 1)).toBe(true);
      }
    }

    function knownHosts(name: string, text: string): string {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      return f;
    }

    const fp = (pub: string) => execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', knownHosts('fp.pub', `${pub}\n`)]).toString().split(' ')[1];

    it('the right key (through the relay) gets past the key exchange: the relay sees NEWKEYS', async () => {
      const r = await relay(host);
      const kh = knownHosts('right', `[127.0.0.1]:${r.port} ${host.hostKeyPub}\n`);
      const t = await openTarget(`ssh://${host.user}@127.0.0.1:${r.port}${host.root}`, { identityFile: host.identityFile, knownHostsFile: kh });
      await t.close();
      expect(r.types()).toEqual([[20, 30, 21]]); // KEXINIT, KEX_ECDH_INIT, NEWKEYS
    });

    it('nothing resting on SHA-1 is offered: no ssh-rsa host key algorithm, no sha1 kex or MAC (issue 12 item 17)', async () => {
      for (const pin of ['none', 'rsa'] as const) {
        const r = await relay(host);
        const rsa = path.join(dir, 'rsa_key');
        if (!existsSync(rsa)) await run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', rsa]);
        const rsaPub = readFileSync(`${rsa}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
        // a pinned RSA key: still only the SHA-2 signature algorithms for it
        const kh = knownHosts(`sha1-${pin}`, pin === 'none' ? '' : `[127.0.0.1]:${r.port} ${rsaPub}\n`);
        await openTarget(`ssh://${host.user}@127.0.0.1:${r.port}${host.root}`, { identityFile: host.identityFile, knownHostsFile: kh }).then((t) => t.close(), () => {});
        const k = r.kexinit();
        expect(k.hostKey.length, pin).toBeGreaterThan(0);
        expect(k.hostKey, pin).not.toContain('ssh-rsa');
        expect(k.hostKey.filter((a) => a.includes('sha1') || a === 'ssh-dss'), pin).toEqual([]);
        expect(k.kex.filter((a) => a.includes('sha1')), pin).toEqual([]);
        expect(k.mac.filter((a) => a.includes('sha1') || a.includes('md5')), pin).toEqual([]);
        if (pin === 'rsa') expect(k.hostKey.sort()).toEqual(['rsa-sha2-256', 'rsa-sha2-512']);
      }
    });

    it('a wrong pinned key fails with host-key before anything past the key exchange is sent', async () => {
      const r = await relay(host);
      const other = path.join(dir, 'other_key');
      if (!existsSync(other)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
      const otherPub = readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
      const kh = knownHosts('wrong', `[127.0.0.1]:${r.port} ${otherPub}\n`);
      const err = await expectTargetError(openTarget(`ssh://${host.user}@127.0.0.1:${r.port}${host.root}`, { identityFile: host.identityFile, knownHostsFile: kh }), 'host-key');
      expect(err.message).toContain('HOST KEY MISMATCH');
      expect(err.message).toContain(fp(host.hostKeyPub)); // what the host offered
      expect(err.message).toContain(fp(otherPub)); // what was pinned
      // the exact line for the key that was shown, not an ssh-keyscan that would fetch whatever answers then
      expect(err.message).toContain(`\n[127.0.0.1]:${r.port} ${host.hostKeyPub}`);
      expect(err.message).not.toContain('ssh-keyscan');
      expectStoppedAtKeyExchange(r.types(), 1);
    });

    it('a host missing from known_hosts (or no known_hosts at all) fails with host-key', async () => {
      const r = await relay(host);
      const kh = knownHosts('missing', `[127.0.0.1]:${host.port} ${host.hostKeyPub}\n127.0.0.1 ${host.hostKeyPub}\n`);
      const url = `ssh://${host.user}@127.0.0.1:${r.port}${host.root}`;
      const err = await expectTargetError(openTarget(url, { identityFile: host.identityFile, knownHostsFile: kh }), 'host-key');
      expect(err.message).toContain(`[127.0.0.1]:${r.port} is not in ${kh}`);
      expect(err.message).toContain(fp(host.hostKeyPub));
      const line = err.message.split('\n').pop()!;
      expect(line).toBe(`[127.0.0.1]:${r.port} ${host.hostKeyPub}`);
      expect(err.message).not.toContain('ssh-keyscan');
      // pinning exactly that line lets the next connection in
      writeFileSync(kh, `${line}\n`);
      await (await openTarget(url, { identityFile: host.identityFile, knownHostsFile: kh })).close();
      const none = path.join(dir, 'no-such-known-hosts');
      const err2 = await expectTargetError(openTarget(url, { identityFile: host.identityFile, knownHostsFile: none }), 'host-key');
      expect(err2.message).toContain('does not exist');
      expectStoppedAtKeyExchange(r.types().filter((_, i) => i !== 1), 2);
    });

    it('hashed known_hosts entries pin the key too', async () => {
      const kh = knownHosts('hashed', `[${host.host}]:${host.port} ${host.hostKeyPub}\n`);
      await run('ssh-keygen', ['-q', '-H', '-f', kh]);
      expect(readFileSync(kh, 'utf8')).toMatch(/^\|1\|/);
      const t = await openTarget(host.url(), { identityFile: host.identityFile, knownHostsFile: kh });
      expect((await t.list('')).length).toBeGreaterThanOrEqual(0);
      await t.close();
    });
  });

  it('a key the host does not accept fails with auth; a closed port with disconnected', async () => {
    const stranger = path.join(dir, 'stranger_key');
    if (!existsSync(stranger)) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const e = await expectTargetError(openTarget(host.url(), { identityFile: stranger, knownHostsFile: host.knownHostsFile }), 'auth');
    expect(e.message).toContain(stranger);
    const s = net.createServer();
    const port = await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
    await new Promise((r) => s.close(r));
    await expectTargetError(openTarget(`ssh://u@127.0.0.1:${port}/x`, { identityFile: host.identityFile, knownHostsFile: host.knownHostsFile }), 'disconnected');
    await expectTargetError(openTarget('ssh://u@127.0.0.1/x', { identityFile: path.join(dir, 'no-key'), knownHostsFile: host.knownHostsFile }), 'config');
    const notAKey = await expectTargetError(openTarget(host.url(), { identityFile: host.knownHostsFile, knownHostsFile: host.knownHostsFile }), 'config');
    expect(notAKey.message).toContain(host.knownHostsFile);
    await expectTargetError(openTarget('ftp://x/y'), 'config');
  });
});

describe('SSH target across a network namespace', () => {
  let ns: LabNetns;
  let host: RepoHost;
  beforeAll(async () => {
    ns = await createNetns('target-cut');
    host = await startRepoHost({ label: 'target-cut', netns: ns });
  });
  afterAll(async () => {
    await host?.stop();
    await ns?.remove();
  });

  it('the network cut mid-stream: disconnected after the keepalives, no hang', async () => {
    const t = await open(host, 'c', { keepaliveIntervalMs: 500 });
    const links = (await run('ip', ['-n', ns.name, '-o', 'link', 'show'])).stdout.split('\n')
      .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1]).filter((x): x is string => !!x && x !== 'lo');
    expect(links.length).toBe(1);
    let cutAt = 0;
    const { error, at } = await streamUntilFailure(t, 'disk.part', (i) => {
      if (i === 8) { cutAt = Date.now(); void run('ip', ['-n', ns.name, 'link', 'set', links[0], 'down']); }
    });
    expect(error).toMatchObject({ code: 'disconnected' });
    expect(at - cutAt).toBeLessThan(6000);
  });
});
