import { describe, expect, it } from 'vitest';
import { MemoryFleet, MemoryRepositoryKeys } from './memory.ts';
import { DeploymentRuns } from './runs.ts';
import type { DeployEvent } from './report.ts';

describe('deployment runs (what the API serves)', () => {
  it('starts in the background, replays its events to a late subscriber, ends with the rows; unknown hosts are refused up front', async () => {
    const fleet = new MemoryFleet();
    for (const a of ['10.0.0.1', '10.0.0.2']) { fleet.add({ address: a }); fleet.pinned.set(a, `SHA256:key-of-${a}`); }
    const cloudstack = { listKvmHosts: async () => [
      { id: 'h1', name: 'kvm1', ipaddress: '10.0.0.1', state: 'Up', resourcestate: 'Enabled', clusterid: 'c1' },
      { id: 'h2', name: 'kvm2', ipaddress: '10.0.0.2', state: 'Up', resourcestate: 'Enabled', clusterid: 'c1' },
    ] };
    const runs = new DeploymentRuns(() => ({
      cloudstack, concurrency: 2,
      deps: { connector: fleet, probe: fleet, repositoryKeys: new MemoryRepositoryKeys(), newKeyPair: (c) => ({ privateKey: 'P', publicKey: `ssh-ed25519 K ${c}` }),
        packages: { deb: { format: 'deb', version: '0.2.0', fileName: 'sendense-agent_0.2.0_amd64.deb', size: 1000, read: async () => new Uint8Array(1000) } }, sleep: async () => {} },
      settings: (credentials, acceptHostKeys) => ({ credentials, acceptHostKeys, linkPublicKey: 'ssh-ed25519 AAAAL cp', repositoryKnownHosts: 'r ssh-ed25519 AAAAR',
        agentConfig: { socket: '/run/sendense/agent.sock', socketOwner: 'sendense', journal: '/j', workDir: '/w', concurrency: 2 }, healthTimeoutMs: 10 }),
    }), () => 'run-1');
    await expect(runs.start('deploy', { hosts: ['kvm9'], credentials: { user: 'root', identityFile: '/keys/admin' } }, 'admin')).rejects.toThrow(/CloudStack has no KVM host 'kvm9'/);
    const run = await runs.start('deploy', { credentials: { user: 'root', identityFile: '/keys/admin' } }, 'admin');
    expect(run.rows).toBeUndefined();
    const rows = await run.done;
    expect(rows.map((r) => `${r.name} ${r.outcome}`)).toEqual(['kvm1 done', 'kvm2 done']);
    const seen: DeployEvent[] = [];
    runs.subscribe('run-1', (e) => seen.push(e));
    expect(seen.filter((e) => e.type === 'row')).toHaveLength(2);
    expect(seen.at(-1)).toMatchObject({ type: 'done' });
    expect(runs.get('run-1')).toMatchObject({ by: 'admin', operation: 'deploy', rows });
  });
});
