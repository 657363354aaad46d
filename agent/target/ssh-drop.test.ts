/**
 * The repository host closing an IDLE connection (sshd restarted, a session killed, a NAT timeout):
 * nothing is waiting on the connection, yet it has an SFTP session, read handles and an open stream
 * file's channel. The
 * process must not see an unhandled rejection (the agent daemon would die of it), and the next
 * call must fail with 'disconnected' and say why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killSessions, sessionPids, startRepoHost, type RepoHost } from '../../test/lab/sshd.ts';
import { isAlive, waitFor } from '../../test/lab/proc.ts';
import { pattern } from './contract.ts';
import { openSshTarget, type SshTarget } from './ssh.ts';
import { SshConnection } from './ssh-connection.ts';
import { TargetError } from './port.ts';

describe('SSH target: the host drops an idle connection', () => {
  let host: RepoHost;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => { unhandled.push(reason); };
  beforeAll(async () => {
    host = await startRepoHost({ label: 'target-drop' });
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await host?.stop();
  });

  it('no unhandled rejection; the next call fails with disconnected, naming the host', async () => {
    const t: SshTarget = await openSshTarget({ user: host.user, host: host.host, port: host.port, path: `${host.root}/drop` },
      { identityFile: host.identityFile, knownHostsFile: host.knownHostsFile, keepaliveIntervalMs: 500 });
    try {
      await t.mkdirp('');
      const data = pattern(300 * 1024, 3);
      await t.writeFileAtomic('a.bin', data);
      await t.writeFileAtomic('b.bin', data);
      // an SFTP session and read handles on two files, cached
      expect((await t.readFile('a.bin')).equals(data)).toBe(true);
      expect((await t.read('b.bin', 1000, 4096)).equals(data.subarray(1000, 5096))).toBe(true);
      expect(await t.stat('a.bin')).toMatchObject({ size: data.length });
      // and a stream file left open, idle (its exec channel is open)
      const f = await t.create('c.part');
      await f.append(data);

      // a bare connection too, with its SFTP session open
      const conn = await SshConnection.connect({ host: host.host, port: host.port, user: host.user, identityFile: host.identityFile, knownHostsFile: host.knownHostsFile, keepaliveIntervalMs: 500 });
      await conn.sftp();

      const sessions = sessionPids(host);
      expect(sessions.length).toBeGreaterThan(0);
      killSessions(host);
      await waitFor('the session processes to die', () => sessions.every((p) => !isAlive(p)), 5000);
      // past several keepalive intervals: the close, the watchdog and any late callback have all run
      await new Promise((r) => setTimeout(r, 3000));
      expect(unhandled.map((e) => String((e as Error)?.stack ?? e))).toEqual([]);

      for (const call of [() => t.readFile('a.bin'), () => t.read('b.bin', 0, 10), () => t.stat('a.bin'), () => t.list(''), () => t.writeFileAtomic('c.bin', data),
        () => f.append(data), () => f.commit()]) {
        const e = await call().then(() => undefined, (x: unknown) => x);
        expect(e).toBeInstanceOf(TargetError);
        expect((e as TargetError).code).toBe('disconnected');
        expect((e as TargetError).message).toMatch(new RegExp(`\\[target\\] \\[ssh\\] the connection to ${host.user}@\\[${host.host}\\]:${host.port} was lost`));
      }
      // the connection's own calls reject (never throw synchronously: `.catch` on them is enough)
      for (const call of [() => conn.sftp(), () => conn.exec('true'), () => conn.track(new Promise(() => {}))]) {
        let p: Promise<unknown> | undefined;
        expect(() => { p = call(); }).not.toThrow();
        await expect(p).rejects.toMatchObject({ code: 'disconnected', message: expect.stringMatching(/was lost/) });
      }
      await conn.close();
      await f.abort().catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
      expect(unhandled.map((e) => String((e as Error)?.stack ?? e))).toEqual([]);
      // the listener itself was left alone: a new connection works
      const t2 = await openSshTarget({ user: host.user, host: host.host, port: host.port, path: `${host.root}/drop` },
        { identityFile: host.identityFile, knownHostsFile: host.knownHostsFile });
      expect((await t2.readFile('a.bin')).equals(data)).toBe(true);
      await t2.close();
    } finally {
      await t.close();
    }
  });
});
