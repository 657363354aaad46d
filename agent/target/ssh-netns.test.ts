import { afterAll, beforeAll } from 'vitest';
import { createNetns, type LabNetns } from '../../test/lab/netns.ts';
import { startRepoHost, type RepoHost } from '../../test/lab/sshd.ts';
import { targetContract } from './contract.ts';
import { openTarget } from './open.ts';

// The repository host is a second "host": sshd inside its own network namespace, reached over
// a veth pair at its own address (port 22), not over loopback.
let ns: LabNetns;
let host: RepoHost;
let n = 0;
beforeAll(async () => {
  ns = await createNetns('target-ns');
  host = await startRepoHost({ label: 'target-ssh-ns', netns: ns });
});
afterAll(async () => {
  await host?.stop();
  await ns?.remove();
});

targetContract('ssh (sshd in a network namespace)', async () => {
  const t = await openTarget(host.url(`t${++n}`), { identityFile: host.identityFile, knownHostsFile: host.knownHostsFile });
  await t.mkdirp('');
  return t;
});
