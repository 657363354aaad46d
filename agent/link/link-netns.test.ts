/**
 * The "second KVM host": sshd inside its own network namespace, reached at its own address over a
 * veth pair (port 22), not over loopback. The daemon's socket is on the shared file system, so the
 * namespace's sshd forwards to it like a real host's sshd would to its local daemon.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeDaemon, type FakeDaemon } from '../../test/lab/agent-daemon.ts';
import { createNetns, type LabNetns } from '../../test/lab/netns.ts';
import { REPO_USER, startRepoHost, type RepoHost } from '../../test/lab/sshd.ts';
import { FakeEngine } from '../daemon/fake-engine.ts';
import { agentJson } from './client.ts';
import { followJob } from './follow.ts';
import { checkAgent } from './heartbeat.ts';
import { agentLink, type ReconnectingAgentLink } from './reconnect.ts';

let ns: LabNetns;
let host: RepoHost;
let d: FakeDaemon;
let link: ReconnectingAgentLink;

beforeAll(async () => {
  ns = await createNetns('agent-ns');
  host = await startRepoHost({ label: 'agent-ns', netns: ns });
  const id = (f: string) => Number(spawnSync('id', [f, REPO_USER], { encoding: 'utf8' }).stdout.trim());
  d = await startFakeDaemon({ owner: { uid: id('-u'), gid: id('-g') }, engine: new FakeEngine({ steps: 8, stepMs: 30 }) });
  link = agentLink({ host: host.host, port: host.port, username: host.user, identityFile: host.identityFile, knownHostsFile: host.knownHostsFile, socketPath: d.socketPath });
});
afterAll(async () => {
  await link?.close();
  await d?.stop();
  await host?.stop();
  await ns?.remove();
});

describe('agent link to a second host (sshd in a network namespace)', () => {
  it('is reached at the namespace\'s own address on port 22, and is active', async () => {
    expect(host.host).toBe(ns.address);
    expect(host.host).not.toMatch(/^127\./);
    expect(host.port).toBe(22);
    const s = await checkAgent(link);
    expect(s).toMatchObject({ status: 'active', hostname: 'lab-kvm' });
    expect(link.where).toContain(ns.address);
  });

  it('runs a job and streams its events through the namespace\'s sshd', async () => {
    const { job } = await agentJson(await link.client.v1.backups.$post({ json: { domain: 'vm1', repo: '/srv/repo' } }));
    const progress: number[] = [];
    const end = await followJob(link.client, job.id, { onEvent: (e) => { if (e.type === 'progress') progress.push(e.progress.bytesDone); } });
    expect(end.state).toBe('succeeded');
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(64 << 20);
  });

  it('is inactive once the namespace\'s sshd is gone', async () => {
    await link.close();
    await host.stop();
    const l2 = agentLink({ host: host.host, port: host.port, username: host.user, identityFile: host.identityFile, knownHostsFile: host.knownHostsFile, socketPath: d.socketPath });
    const s = await checkAgent(l2, { timeoutMs: 5000 });
    expect(s.status).toBe('inactive');
    expect(s.error).toMatch(/\[link\] cannot reach .* over SSH: .*ECONNREFUSED/);
  });
});
