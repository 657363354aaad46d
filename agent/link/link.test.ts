/**
 * The control plane's link to the agent daemon over a REAL sshd on loopback: streamlocal
 * forwarding to the daemon's unix socket, the host key pinned, jobs and their event streams over
 * SSH, the heartbeat (active / inactive / error), and reconnecting after a drop.
 * The daemon runs in this process with the fake engine; its socket belongs to the SSH user.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeEngine } from '../daemon/fake-engine.ts';
import { createAgentApp } from '../daemon/app.ts';
import { capabilityProblems } from '../daemon/capabilities.ts';
import { MemoryJournal } from '../daemon/journal.ts';
import { serveOnSocket } from '../daemon/server.ts';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import { daemonDir, FAKE_CAPS, startFakeDaemon, type FakeDaemon } from '../../test/lab/agent-daemon.ts';
import { isAlive, waitFor } from '../../test/lab/proc.ts';
import { REPO_USER, startRepoHost, type RepoHost } from '../../test/lab/sshd.ts';
import { agentJson } from './client.ts';
import { connectAgent, type AgentLink, type AgentLinkOptions } from './connect.ts';
import { AgentApiError, LinkError } from './errors.ts';
import { followJob } from './follow.ts';
import { checkAgent } from './heartbeat.ts';
import { agentLink } from './reconnect.ts';

let host: RepoHost;
let owner: { uid: number; gid: number };
const daemons: FakeDaemon[] = [];
const links: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  host = await startRepoHost({ label: 'link' });
  owner = {
    uid: Number(spawnSync('id', ['-u', REPO_USER], { encoding: 'utf8' }).stdout.trim()),
    gid: Number(spawnSync('id', ['-g', REPO_USER], { encoding: 'utf8' }).stdout.trim()),
  };
});
afterAll(async () => {
  for (const l of links) await l.close().catch(() => {});
  for (const d of daemons) await d.stop().catch(() => {});
  await host?.stop();
});

async function daemon(engine?: FakeEngine): Promise<FakeDaemon> {
  const d = await startFakeDaemon({ owner, engine });
  daemons.push(d);
  return d;
}

function opts(d: { socketPath: string }, over: Partial<AgentLinkOptions> = {}): AgentLinkOptions {
  return { host: host.host, port: host.port, username: host.user, identityFile: host.identityFile, knownHostsFile: host.knownHostsFile, socketPath: d.socketPath, ...over };
}

async function link(o: AgentLinkOptions): Promise<AgentLink> {
  const l = await connectAgent(o);
  links.push(l);
  return l;
}

async function linkError(p: Promise<unknown>): Promise<LinkError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected a LinkError').toBeInstanceOf(LinkError);
  expect((e as Error).message).toMatch(/^\[link\] /);
  return e as LinkError;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** sshd's per-connection processes (the listener's descendants: [priv] and the user's), by pid */
function sessionPids(listener: number): number[] {
  const all = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number);
  const out: number[] = [];
  let frontier = [listener];
  while (frontier.length) {
    const kids = all.filter((p) => frontier.includes(parentOf(p) ?? -1));
    out.push(...kids);
    frontier = kids;
  }
  return out;
}

describe('agent link over SSH (loopback sshd)', () => {
  it('health over the forwarded socket; the host key fingerprint is the pinned one', async () => {
    const d = await daemon();
    const l = await link(opts(d));
    const h = await agentJson(await l.client.v1.health.$get());
    expect(h).toMatchObject({ ok: true, hostname: 'lab-kvm', version: '0.1.0-lab' });
    const fp = spawnSync('ssh-keygen', ['-lf', path.join(path.dirname(host.knownHostsFile), 'ssh_host_ed25519_key.pub')], { encoding: 'utf8' }).stdout.split(' ')[1];
    expect(l.hostKeyFingerprint).toBe(fp);
    expect(l.where).toBe(`${REPO_USER}@[${host.host}]:${host.port}:${d.socketPath}`);
  });

  it('a backup job over SSH: 202, progress events streamed through the channel, succeeded; found again from a new link', async () => {
    const d = await daemon(new FakeEngine({ steps: 10, stepMs: 30 }));
    const l = await link(opts(d));
    const res = await l.client.v1.backups.$post({ json: { domain: 'vm1', repo: '/srv/repo', vmId: 'vm-1' } });
    expect(res.status).toBe(202);
    const { job } = await agentJson(res);
    const types: string[] = [];
    const end = await followJob(l.client, job.id, { onEvent: (e) => types.push(e.type) });
    expect(end).toMatchObject({ id: job.id, state: 'succeeded', result: { vmId: 'vm-1', type: 'full' } });
    expect(types[0]).toBe('state');
    expect(types.filter((t) => t === 'progress').length).toBeGreaterThan(2);
    await l.close();
    expect(l.closed).toBe(true);
    // a control plane that restarted: a new connection finds the job by id
    const again = await link(opts(d));
    expect((await agentJson(await again.client.v1.jobs[':id'].$get({ param: { id: job.id } }))).job).toEqual(end);
  });

  it('cancel over SSH: the job ends cancelled while its event stream is followed', async () => {
    const d = await daemon(new FakeEngine({ steps: 200, stepMs: 20 }));
    const l = await link(opts(d));
    const { job } = await agentJson(await l.client.v1.backups.$post({ json: { domain: 'vm2', repo: '/srv/repo' } }));
    const end = followJob(l.client, job.id);
    await new Promise((r) => setTimeout(r, 200));
    expect((await l.client.v1.jobs[':id'].cancel.$post({ param: { id: job.id } })).status).toBe(202);
    expect(await end).toMatchObject({ state: 'cancelled', error: { code: 'cancelled' } });
    expect(d.engine.running).toBe(0);
  });

  it('many requests at once share one SSH connection (one channel each)', async () => {
    const d = await daemon();
    const connections = () => sessionPids(host.pid).filter((p) => parentOf(p) === host.pid).length;
    const before = connections();
    const l = await link(opts(d));
    expect(connections()).toBe(before + 1);
    const t0 = performance.now();
    const all = await Promise.all(Array.from({ length: 30 }, () => l.client.v1.health.$get().then((r) => r.status)));
    expect(all).toEqual(Array(30).fill(200));
    const perRequest = (performance.now() - t0) / 30;
    expect(connections()).toBe(before + 1);
    console.log(`[link] 30 concurrent health requests over one SSH connection: ${perRequest.toFixed(1)} ms each on average`);
  });

  it('no channel is left open: not by answers whose body is never read, nor by an event stream the client stops reading', async () => {
    const d = await daemon(new FakeEngine({ steps: 500, stepMs: 20 }));
    const before = new Set(sessionPids(host.pid));
    const l = await link(opts(d));
    await (await l.client.v1.health.$get()).json();
    // this connection's sshd processes
    const ours = sessionPids(host.pid).filter((p) => !before.has(p));
    expect(ours.length).toBeGreaterThan(0);
    // unix-socket fds sshd holds for forwarded channels (one per open channel)
    const sockets = () => ours.reduce((n, pid) => n + readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try { return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:'); } catch { return false; }
    }).length, 0);
    // settled: the health request's channel closes a moment after its answer
    let last = -1;
    await waitFor('the channel count to settle', () => { const n = sockets(); const same = n === last; last = n; return same; }, 5000, 200);
    const idle = last;
    for (let i = 0; i < 40; i++) expect((await l.client.v1.health.$get()).status).toBe(200); // bodies never read
    await waitFor('the 40 channels to close', () => sockets() === idle, 10_000);
    const { job } = await agentJson(await l.client.v1.backups.$post({ json: { domain: 'vm1', repo: '/srv/repo' } }));
    const res = await l.client.v1.jobs[':id'].events.$get({ param: { id: job.id } });
    const reader = res.body!.getReader();
    await reader.read();
    expect(sockets()).toBeGreaterThan(idle); // the stream's channel is open
    await reader.cancel();
    await waitFor('sshd to close the channels', () => sockets() === idle, 10_000);
    await l.client.v1.jobs[':id'].cancel.$post({ param: { id: job.id } });
  });

  it('an API error comes back as the agent said it', async () => {
    const d = await daemon();
    const l = await link(opts(d));
    const e = await agentJson(await l.client.v1.jobs[':id'].$get({ param: { id: 'nope' } })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AgentApiError);
    expect(e).toMatchObject({ status: 404, code: 'not-found', message: '[daemon] [jobs] no job nope on this agent' });
  });

  it('the host key is pinned: another key for the host, or a host not in known_hosts, is refused before login', async () => {
    const d = await daemon();
    const other = path.join(daemonDir('kh'), 'known_hosts');
    const [, type, key] = /^(\S+) (\S+) (\S+)/.exec(readFileSync(host.knownHostsFile, 'utf8'))!;
    // a different ed25519 key pinned for the same host:port
    const fake = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${other}.key`]);
    expect(fake.status).toBe(0);
    writeFileSync(other, `[${host.host}]:${host.port} ${readFileSync(`${other}.key.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    const mismatch = await linkError(connectAgent(opts(d, { knownHostsFile: other })));
    expect(mismatch.code).toBe('host-key');
    expect(mismatch.message).toMatch(/HOST KEY MISMATCH/);
    writeFileSync(other, `[${host.host}]:${host.port + 1} ${type} ${key}\n`);
    const unknown = await linkError(connectAgent(opts(d, { knownHostsFile: other })));
    expect(unknown.code).toBe('host-key');
    expect(unknown.message).toMatch(/is not pinned in/);
  });

  it('a refused key and an unreadable identity are clear errors', async () => {
    const d = await daemon();
    const key = path.join(daemonDir('key'), 'id');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    expect((await linkError(connectAgent(opts(d, { identityFile: key })))).code).toBe('auth');
    expect((await linkError(connectAgent(opts(d, { identityFile: '/nonexistent/id' })))).code).toBe('config');
  });
});

describe('heartbeat', () => {
  it('active when the daemon answers; inactive when the daemon is down; inactive when sshd is down', async () => {
    const h2 = await startRepoHost({ label: 'hb' });
    try {
      const d = await startFakeDaemon({ owner });
      const l = agentLink({ host: h2.host, port: h2.port, username: h2.user, identityFile: h2.identityFile, knownHostsFile: h2.knownHostsFile, socketPath: d.socketPath });
      links.push(l);
      const up = await checkAgent(l);
      expect(up).toMatchObject({ status: 'active', version: '0.1.0-lab', hostname: 'lab-kvm', capabilities: { libvirt: { backup: true } }, jobs: { running: 0 } });
      expect(up.hostKeyFingerprint).toMatch(/^SHA256:/);
      expect(up.error).toBeUndefined();
      console.log(`[link] heartbeat latency: first (with SSH connect) ${up.latencyMs} ms, then ${(await checkAgent(l)).latencyMs} ms`);
      // the daemon stops: sshd is up, the socket is gone
      await d.stop();
      const down = await checkAgent(l);
      expect(down.status).toBe('inactive');
      expect(down.error).toMatch(/sshd could not connect to the agent's socket/);
      // the daemon is back
      const d2 = await startFakeDaemon({ owner, socketPath: d.socketPath });
      expect((await checkAgent(l)).status).toBe('active');
      // sshd goes down, its sessions too: the link drops, reconnecting fails
      const sessions = sessionPids(h2.pid);
      expect(sessions.length).toBeGreaterThan(0);
      let dropped = false;
      l.onClose(() => { dropped = true; });
      await h2.stop();
      for (const pid of sessions) process.kill(pid, 'SIGKILL');
      await waitFor('the link to notice the drop', () => dropped, 10_000);
      const gone = await checkAgent(l, { timeoutMs: 5000 });
      expect(gone.status).toBe('inactive');
      expect(gone.error).toMatch(/\[link\] /);
      await d2.stop();
    } finally {
      await h2.stop();
    }
  });

  it('error when the daemon answers but the host cannot back up, or the host key is not the pinned one', async () => {
    const d = await daemon();
    const l = await link(opts(d));
    // a daemon whose host cannot back up (libvirt down)
    const app = createAgentApp({
      engine: new FakeEngine(), journal: new MemoryJournal(), hypervisor: new MemoryHypervisor(), version: 'x', hostname: 'sick-kvm',
      probe: async () => ({ ...FAKE_CAPS, libvirt: { version: null, hypervisor: null, backup: false } }),
      problems: capabilityProblems,
    });
    const srv = await serveOnSocket(app.app.fetch, { socketPath: path.join(daemonDir('sick'), 'run', 'agent.sock'), owner });
    try {
      const s = await checkAgent(await link(opts({ socketPath: srv.socketPath })));
      expect(s).toMatchObject({ status: 'error', hostname: 'sick-kvm' });
      expect(s.error).toMatch(/cannot back up: libvirt does not answer/);
    } finally {
      await srv.close();
    }
    expect((await checkAgent(l)).status).toBe('active');
    // a host key that is not the pinned one
    const other = path.join(daemonDir('kh2'), 'known_hosts');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${other}.key`]);
    writeFileSync(other, `[${host.host}]:${host.port} ${readFileSync(`${other}.key.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    const bad = agentLink({ ...opts(d), knownHostsFile: other });
    const s = await checkAgent(bad);
    expect(s.status).toBe('error');
    expect(s.error).toMatch(/HOST KEY MISMATCH/);
  });

  it('a socket the SSH user may not open (root\'s, 0600) is inactive with a message that says what to check', async () => {
    const d = await startFakeDaemon();
    daemons.push(d);
    const s = await checkAgent(agentLink(opts(d)));
    expect(s.status).toBe('inactive');
    expect(s.error).toMatch(/does this user own the socket/);
  });
});

describe('reconnecting link', () => {
  it('connects on first use, notices a dropped connection and reconnects on the next request', async () => {
    const d = await daemon();
    const l = agentLink(opts(d));
    links.push(l);
    expect(l.connects).toBe(0);
    expect((await l.client.v1.health.$get()).status).toBe(200);
    expect((await l.client.v1.health.$get()).status).toBe(200);
    expect(l.connects).toBe(1);
    const drops: string[] = [];
    l.onClose((why) => drops.push(why.message));
    // drop the SSH connection from the host's side: kill the session processes sshd forked for it
    const before = sessionPids(host.pid);
    expect(before.length).toBeGreaterThan(0);
    for (const pid of before) process.kill(pid, 'SIGKILL');
    await waitFor('the drop to be noticed', () => drops.length > 0, 10_000);
    expect(drops[0]).toMatch(/\[link\] the SSH connection to .* was lost/);
    expect((await l.client.v1.health.$get()).status).toBe(200);
    expect(l.connects).toBe(2);
    expect(before.every((p) => !isAlive(p))).toBe(true);
  });

  it('a failed connect is not cached: the next request tries again', async () => {
    const d = await daemon();
    // pinned, but nothing listens there
    const kh = path.join(daemonDir('kh3'), 'known_hosts');
    writeFileSync(kh, `[${host.host}]:1 ${host.hostKeyPub}\n`);
    const l = agentLink(opts(d, { port: 1, knownHostsFile: kh }));
    await expect(l.client.v1.health.$get()).rejects.toThrow(/\[link\] cannot reach .* over SSH|closed the connection during the SSH handshake/);
    await expect(l.client.v1.health.$get()).rejects.toThrow(LinkError);
    expect(l.connects).toBe(0);
    await l.close();
    await expect(l.client.v1.health.$get()).rejects.toThrow(/was closed/);
  });
});
