/**
 * The daemon served on a real unix socket (in a lab directory), reached by HTTP over the socket
 * with the link's stream fetch: permissions, stale sockets, streaming events, clean close.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentJson } from '../link/client.ts';
import { followJob, jobEvents } from '../link/follow.ts';
import { daemonDir, openSocketFetch, startFakeDaemon, type FakeDaemon } from '../../test/lab/agent-daemon.ts';
import { FakeEngine } from './fake-engine.ts';
import { serveOnSocket, SocketServerError } from './server.ts';

const started: FakeDaemon[] = [];
afterAll(async () => { for (const d of started) await d.stop().catch(() => {}); });

async function daemon(o: Parameters<typeof startFakeDaemon>[0] = {}) {
  const d = await startFakeDaemon(o);
  started.push(d);
  return d;
}

describe('agent daemon on a unix socket', () => {
  it('the socket is 0600, owned by the agent\'s user, in a 0700 directory it created', async () => {
    const d = await daemon();
    const st = statSync(d.socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid!());
    expect(statSync(path.dirname(d.socketPath)).mode & 0o777).toBe(0o700);
  });

  it('the socket (and the directory it creates) can be given to another user', async () => {
    const uid = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim());
    const d = await daemon({ owner: { uid, gid } });
    expect(statSync(d.socketPath)).toMatchObject({ uid, gid });
    expect(statSync(path.dirname(d.socketPath))).toMatchObject({ uid, gid });
    expect(statSync(d.socketPath).mode & 0o777).toBe(0o600);
  });

  it('HTTP over the socket: health, and a job whose events stream as they happen', async () => {
    const d = await daemon({ engine: new FakeEngine({ steps: 10, stepMs: 50 }) });
    const { client } = openSocketFetch(d.socketPath);
    expect(await agentJson(await client.v1.health.$get())).toMatchObject({ ok: true, hostname: 'lab-kvm', version: '0.1.0-lab' });
    const { job } = await agentJson(await client.v1.backups.$post({ json: { domain: 'vm1', repo: '/srv/r' } }));
    const t0 = Date.now();
    const res = await client.v1.jobs[':id'].events.$get({ param: { id: job.id } });
    const arrivals: { type: string; at: number }[] = [];
    for await (const e of jobEvents(res)) arrivals.push({ type: e.type, at: Date.now() - t0 });
    expect(arrivals[0].type).toBe('state');
    expect(arrivals.at(-1)!.type).toBe('done');
    // streamed, not buffered: the first event came long before the last (the job takes ~500 ms)
    expect(arrivals.at(-1)!.at - arrivals[0].at).toBeGreaterThan(250);
    expect(arrivals.filter((a) => a.type === 'progress').length).toBeGreaterThan(3);
  });

  it('a socket file a dead daemon left is replaced; a live daemon\'s is not; nor is a file that is not a socket', async () => {
    const d = await daemon();
    // a live daemon: refused
    const e = await serveOnSocket(() => new Response('x'), { socketPath: d.socketPath }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SocketServerError);
    expect((e as SocketServerError).code).toBe('in-use');
    expect((e as Error).message).toMatch(/another daemon is already serving on/);
    // the first still answers
    expect((await openSocketFetch(d.socketPath).client.v1.health.$get()).status).toBe(200);
    // a regular file: refused
    const file = path.join(daemonDir('notsock'), 'agent.sock');
    writeFileSync(file, 'hello');
    await expect(serveOnSocket(() => new Response('x'), { socketPath: file })).rejects.toThrow(/exists and is not a socket: refusing to replace it/);
    // a stale socket: bound by a process that is gone (a child that exits without unlinking it)
    const dir = daemonDir('stale');
    mkdirSync(dir, { recursive: true });
    const stale = path.join(dir, 'agent.sock');
    const r = spawnSync(process.execPath, ['-e', `const s=require('net').createServer().listen(${JSON.stringify(stale)},()=>process.exit(0))`]);
    expect(r.status).toBe(0);
    expect(existsSync(stale)).toBe(true);
    const s = await serveOnSocket(() => new Response('fresh'), { socketPath: stale });
    expect(await (await openSocketFetch(stale).fetch('http://x/')).text()).toBe('fresh');
    await s.close();
  });

  it('close ends open event streams, stops the server and removes the socket', async () => {
    const d = await startFakeDaemon({ engine: new FakeEngine({ steps: 100, stepMs: 50 }) });
    const { client } = openSocketFetch(d.socketPath);
    const { job } = await agentJson(await client.v1.backups.$post({ json: { domain: 'vm1', repo: '/srv/r' } }));
    const following = followJob(client, job.id).then((j) => j, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    await d.stop();
    const end = await following;
    // the stop aborted the job: its stream saw it end failed ('agent-stopped'), then closed
    expect(end).toMatchObject({ state: 'failed', error: { code: 'agent-stopped' } });
    expect(existsSync(d.socketPath)).toBe(false);
    await expect(client.v1.health.$get()).rejects.toThrow(/ENOENT|ECONNREFUSED/);
  });
});
