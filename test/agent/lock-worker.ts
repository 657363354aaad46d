/**
 * A separate process for the lock fault tests (test/agent/locks.test.ts): takes the host lock
 * and/or the repository lease of one VM as agent host `--host`, holds it for `--hold-ms` while
 * writing a point-like file under the VM, and prints one JSON line per attempt
 * ({ok, host, start, end} or {ok:false, error}). Killed with SIGKILL it leaves its lock behind,
 * as a crashed agent would.
 */
import { parseArgs } from 'node:util';
import { acquireLease, LeaseError } from '../../agent/repository/lease.ts';
import { acquireHostLock, HostLockError } from '../../agent/system/host-lock.ts';
import { openTarget } from '../../agent/target/open.ts';

const { values: o } = parseArgs({
  options: {
    repo: { type: 'string' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' }, vm: { type: 'string' },
    host: { type: 'string' }, 'lock-dir': { type: 'string' }, 'hold-ms': { type: 'string' }, rounds: { type: 'string' }, 'ttl-ms': { type: 'string' },
    'stay': { type: 'boolean' },
  },
});
const target = await openTarget(o.repo!, { identityFile: o.identity, knownHostsFile: o['known-hosts'], warn: () => {} });
const rounds = Number(o.rounds ?? 1);
for (let i = 0; i < rounds; i++) {
  const owner = `${o.host}-${process.pid}-${i}`;
  let host;
  let lease;
  try {
    if (o['lock-dir']) host = await acquireHostLock(o['lock-dir'], o.vm!, { work: 'backup', owner });
    lease = await acquireLease(target, o.vm!, { owner, host: o.host!, work: 'backup', ttlMs: Number(o['ttl-ms'] ?? 30_000) });
    lease.keepRenewing();
    const start = Date.now();
    process.stdout.write(`${JSON.stringify({ ok: true, held: true, host: o.host, owner, start })}\n`);
    if (o.stay) await new Promise(() => {}); // held until killed
    // work under the lease: a point-like file, as a backup would write
    await target.mkdirp(`${o.vm}/disk-0`);
    const f = await target.create(`${o.vm}/disk-0/.partial-${owner}-x`);
    await f.append(Buffer.alloc(4096, i));
    await new Promise((r) => setTimeout(r, Number(o['hold-ms'] ?? 300)));
    await f.commit();
    await target.remove(`${o.vm}/disk-0/.partial-${owner}-x`);
    const end = Date.now();
    await lease.release();
    await host?.release();
    process.stdout.write(`${JSON.stringify({ ok: true, host: o.host, owner, start, end, lost: lease.lost.aborted })}\n`);
  } catch (e) {
    await host?.release();
    const busy = e instanceof LeaseError || e instanceof HostLockError;
    process.stdout.write(`${JSON.stringify({ ok: false, busy, error: (e as Error).message })}\n`);
  }
  await new Promise((r) => setTimeout(r, 20 + Math.random() * 50));
}
await target.close();
