/**
 * vitest global setup: makes this machine a KVM host lab before any test runs. Installs the
 * Debian packages that are missing (saying which), starts virtlogd/virtlockd/libvirtd by hand when
 * they are not running, removes leftovers of crashed runs; at the end stops only what it started.
 * Any failure fails the run: tests that need libvirt or sshd never skip.
 */
import { ensurePackages } from './packages.ts';
import { startLibvirt, stopLibvirt, type StartedDaemons } from './daemons.ts';
import { cleanupRun, cleanupStale } from './cleanup.ts';
import { runId } from './paths.ts';
import { log } from './log.ts';
import { bundleAgent } from '../../packaging/bundle.ts';

let started: StartedDaemons | undefined;

export async function setup(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('[lab] the test lab needs root (libvirt, sshd, network namespaces)');
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  const t0 = Date.now();
  ensurePackages();
  // tests spawn the real CLI: keep its bundle current (a stale one would not be used, but is slower)
  await bundleAgent();
  started = await startLibvirt();
  await cleanupStale(runId());
  log(`ready in ${Date.now() - t0} ms (run ${runId()}; started: ${started.started.join(', ') || 'nothing, already running'})`);
}

export async function teardown(): Promise<void> {
  await cleanupRun(runId()).catch(() => {});
  if (started && !process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(started);
}
