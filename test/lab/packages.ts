/**
 * Installs the Debian packages the lab needs when they are missing, and says what it installs.
 * Fails loudly (never skips) when apt-get cannot install them.
 */
import { spawnSync } from 'node:child_process';
import { log } from './log.ts';

/** what `sendense demo` needs: a KVM host (QEMU, libvirt, NBD tools) and an SSH repository host */
export const HOST_PACKAGES = [
  'qemu-system-x86', 'qemu-utils', 'libvirt-daemon-system', 'libvirt-clients', 'libnbd-bin',
  'nbdkit', 'openssh-server', 'openssh-client', 'iproute2', 'python3-cs',
] as const;

/** what the tests need besides */
export const LAB_PACKAGES = [
  ...HOST_PACKAGES,
  // the plug-in's browser tests (Debian's chromium, driven by playwright-core) and fonts to render text
  'chromium', 'fonts-dejavu-core',
  // the Store on PostgreSQL (an unprivileged cluster the lab starts) and the same-origin proxy tests
  'postgresql', 'nginx',
  // packages: rpmbuild, lintian, and mmdebstrap for the namespace KVM hosts
  'rpm', 'lintian', 'mmdebstrap',
] as const;

export function missingPackages(pkgs: readonly string[]): string[] {
  return pkgs.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return r.stdout.trim() !== 'install ok installed';
  });
}

export function ensurePackages(pkgs: readonly string[] = LAB_PACKAGES): void {
  const missing = missingPackages(pkgs);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`[lab] missing Debian packages ${missing.join(' ')} and not root: run as root or install them`);
  }
  log(`installing Debian packages: ${missing.join(' ')} (apt-get, --no-install-recommends)`);
  const t0 = Date.now();
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const upd = spawnSync('apt-get', ['update', '-qq'], { encoding: 'utf8', env });
  if (upd.status !== 0) throw new Error(`[lab] apt-get update failed: ${upd.stderr.trim().slice(-500)}`);
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`[lab] apt-get install ${missing.join(' ')} failed: ${(r.stderr || r.stdout).trim().slice(-800)}`);
  const still = missingPackages(missing);
  if (still.length) throw new Error(`[lab] packages still missing after apt-get install: ${still.join(' ')}`);
  log(`installed ${missing.length} packages in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
