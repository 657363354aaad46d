/**
 * @layer adapter
 * The user QEMU runs as, and directories it can write: libvirt's pull-mode backup has QEMU bind
 * the NBD unix socket itself, so the socket's directory must be writable by that user
 * (`Failed to bind socket ... Permission denied` otherwise). The owner comes from the running
 * domain's DAC label (`<seclabel model='dac'><label>+64055:+64055`), else from qemu.conf's
 * user/group (default libvirt-qemu), resolved through /etc/passwd and /etc/group.
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { HypervisorError } from './port.ts';

export interface Owner { uid: number; gid: number }

function lookup(file: string, name: string, field: number): number | undefined {
  if (/^\+\d+$/.test(name)) return Number(name.slice(1));
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return Number(f[field]);
    }
  } catch { /* no such file */ }
  return /^\d+$/.test(name) ? Number(name) : undefined;
}

/** QEMU's user from qemu.conf (Debian default libvirt-qemu:libvirt-qemu). */
export function qemuConfOwner(conf = '/etc/libvirt/qemu.conf'): Owner {
  let user = 'libvirt-qemu';
  let group: string | undefined;
  try {
    const text = readFileSync(conf, 'utf8');
    user = /^\s*user\s*=\s*"([^"]+)"/m.exec(text)?.[1] ?? user;
    group = /^\s*group\s*=\s*"([^"]+)"/m.exec(text)?.[1];
  } catch { /* defaults */ }
  const uid = lookup('/etc/passwd', user, 2);
  const gid = group ? lookup('/etc/group', group, 2) : lookup('/etc/passwd', user, 3);
  if (uid === undefined || gid === undefined) {
    throw new HypervisorError('libvirt', `[hypervisor] cannot resolve QEMU's user '${user}'${group ? `:${group}` : ''} (from ${conf}): set user/group there or create the user`);
  }
  return { uid, gid };
}

function writableBy(dir: string, o: Owner): boolean {
  const st = statSync(dir);
  if (o.uid === 0) return true;
  if (st.uid === o.uid) return (st.mode & 0o300) === 0o300;
  if (st.gid === o.gid) return (st.mode & 0o030) === 0o030;
  return (st.mode & 0o003) === 0o003;
}

/**
 * Makes sure QEMU can create a socket in `dir`: a missing directory is created (with its parents)
 * and given to QEMU's user, mode 0770; an existing one must already be writable by it (Sendense
 * never hands over a directory it did not create). Returns whether it created `dir`.
 */
export function ensureQemuWritableDir(dir: string, owner: Owner): boolean {
  let created = false;
  try {
    statSync(dir);
  } catch {
    // parents must stay traversable by QEMU (it also opens scratch files below them)
    mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
    mkdirSync(dir, { mode: 0o770 });
    chownSync(dir, owner.uid, owner.gid);
    chmodSync(dir, 0o770);
    created = true;
  }
  if (!writableBy(dir, owner)) {
    throw new HypervisorError('invalid', `[hypervisor] QEMU (uid ${owner.uid}) cannot create its NBD socket in ${dir}: give each job a socket path in a directory that does not exist yet (Sendense creates it for QEMU)`);
  }
  return created;
}
