import { afterAll, beforeAll } from 'vitest';
import { startRepoHost, type RepoHost } from '../../test/lab/sshd.ts';
import { targetContract } from './contract.ts';
import { openTarget } from './open.ts';

let host: RepoHost;
let n = 0;
beforeAll(async () => { host = await startRepoHost({ label: 'target-ssh' }); });
afterAll(async () => { await host?.stop(); });

targetContract('ssh (sshd on loopback)', async () => {
  const t = await openTarget(host.url(`t${++n}`), { identityFile: host.identityFile, knownHostsFile: host.knownHostsFile });
  await t.mkdirp('');
  return t;
});
