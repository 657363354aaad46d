/**
 * The root file system of the lab's namespace KVM hosts (test/lab/nshost.ts): Debian 12 made by
 * mmdebstrap from this machine's own apt sources, with systemd, sshd, libvirt and everything the
 * sendense-agent package depends on already inside, because the namespace hosts have no route to
 * a mirror: `apt-get install ./sendense-agent.deb` there must resolve every dependency locally.
 * The tarball is cached under /var/tmp/sendense-lab/nshost/ (the name carries a hash of the
 * package list); SENDENSE_NSHOST_FRESH=1 builds it again. A first build takes ~5 min (downloads).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { log } from './log.ts';
import { ensurePackages } from './packages.ts';

export const NSHOST_CACHE = path.join(process.env.SENDENSE_LAB_DIR ?? '/var/tmp/sendense-lab', 'nshost');

export const NSHOST_PACKAGES = [
  'systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'openssh-client', 'iproute2', 'passwd',
  // the sendense-agent package's dependencies, and libvirtd with QEMU (TCG) for the agent's probe
  'qemu-utils', 'libvirt-clients', 'libvirt-daemon-system', 'qemu-system-x86',
] as const;

export async function nshostRootfs(): Promise<string> {
  const hash = createHash('sha256').update(NSHOST_PACKAGES.join(',')).digest('hex').slice(0, 12);
  const tarball = path.join(NSHOST_CACHE, `bookworm-${hash}.tar`);
  if (existsSync(tarball) && process.env.SENDENSE_NSHOST_FRESH !== '1') return tarball;
  ensurePackages(['mmdebstrap']);
  mkdirSync(NSHOST_CACHE, { recursive: true });
  // one build at a time on this machine: others wait for it and then use the result
  const lock = path.join(NSHOST_CACHE, '.build.lock');
  const partial = `${tarball}.partial-${process.pid}`;
  log(`building the namespace hosts' Debian 12 root (mmdebstrap, ~5 min the first time) into ${tarball}`);
  const t0 = Date.now();
  try {
    await run('flock', [lock, 'sh', '-c',
      `if [ -e '${tarball}' ] && [ "$SENDENSE_NSHOST_FRESH" != 1 ]; then exit 0; fi; ` +
      `mmdebstrap --quiet --variant=apt --include=${NSHOST_PACKAGES.join(',')} bookworm '${partial}' && mv '${partial}' '${tarball}'`], { timeoutMs: 20 * 60_000 });
  } finally {
    rmSync(partial, { force: true });
  }
  log(`namespace host root ready in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (!existsSync(tarball)) throw new Error(`[lab] [nshost] mmdebstrap made no ${tarball}`);
  return tarball;
}
