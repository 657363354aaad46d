/**
 * libvirt without systemd: starts virtlogd, virtlockd and libvirtd by hand with pid files under
 * the lab directory when they are not running, and stops only the ones it started (or adopted
 * from a crashed run of the lab). A daemon someone else started is used, never stopped.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { LAB_ROOT } from './paths.ts';
import { commOf, isAlive, killAndWait, readPidFile, waitFor } from './proc.ts';
import { log } from './log.ts';

const DAEMONS = ['virtlogd', 'virtlockd', 'libvirtd'] as const;
type Daemon = (typeof DAEMONS)[number];

function stateDir(): string {
  const d = path.join(LAB_ROOT, 'daemons');
  mkdirSync(d, { recursive: true });
  return d;
}

function livePids(name: string): number[] {
  const r = spawnSync('pgrep', ['-x', name], { encoding: 'utf8' });
  return r.stdout.split('\n').map((s) => Number.parseInt(s, 10)).filter((p) => p > 0 && isAlive(p));
}

function ours(name: Daemon): number | undefined {
  const pid = readPidFile(path.join(stateDir(), `${name}.pid`));
  return pid && isAlive(pid) && commOf(pid) === name ? pid : undefined;
}

export interface StartedDaemons {
  started: Daemon[];
}

async function startOne(name: Daemon): Promise<boolean> {
  if (ours(name)) return true; // left by a crashed run of the lab: adopt it, stop it at the end
  const others = livePids(name);
  if (others.length) return false; // someone else's: use, never stop
  const pidFile = path.join(stateDir(), `${name}.pid`);
  rmSync(pidFile, { force: true });
  const env = { ...process.env, LIBVIRT_LOG_OUTPUTS: `3:file:${path.join(stateDir(), `${name}.log`)}` };
  const r = spawnSync(`/usr/sbin/${name}`, ['-d', '-p', pidFile], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`[lab] ${name} failed to start (exit ${r.status}): ${r.stderr.trim()}; log in ${stateDir()}`);
  await waitFor(`${name} to write its pid file`, () => ours(name) !== undefined, 10_000);
  log(`started ${name} (pid ${ours(name)})`);
  return true;
}

export function virshOk(): boolean {
  return spawnSync('virsh', ['-q', '-c', 'qemu:///system', 'version'], { encoding: 'utf8' }).status === 0;
}

/**
 * Without udev, a kernel's /dev/kvm stays root:root 0600. libvirt then finds KVM in the QEMU
 * capabilities it probed but "not usable" by the QEMU user, throws the cached capabilities away and
 * probes QEMU again on every lookup: `virsh create` took 70-85 s here instead of under 1 s. Debian's
 * udev rule makes it root:kvm 0660 (the QEMU user is in group kvm); the lab does the same. Guests
 * still run under TCG (domain type 'qemu').
 */
function fixKvmNode(): void {
  if (!existsSync('/dev/kvm')) return;
  const r = spawnSync('sh', ['-c', 'getent group kvm >/dev/null && chgrp kvm /dev/kvm && chmod 0660 /dev/kvm'], { encoding: 'utf8' });
  if (r.status !== 0) log(`could not give /dev/kvm to group kvm (${(r.stderr || '').trim()}): libvirt may re-probe QEMU on every call`);
}

export async function startLibvirt(): Promise<StartedDaemons> {
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  fixKvmNode();
  const started: Daemon[] = [];
  for (const d of DAEMONS) if (await startOne(d)) started.push(d);
  await waitFor('libvirtd to answer on qemu:///system', virshOk, 30_000, 100).catch((e) => {
    throw new Error(`${(e as Error).message}; see ${path.join(stateDir(), 'libvirtd.log')}`);
  });
  const caps = spawnSync('virsh', ['-q', '-c', 'qemu:///system', 'domcapabilities', '--virttype', 'qemu'], { encoding: 'utf8' });
  if (!caps.stdout.includes("<backup supported='yes'/>")) throw new Error('[lab] libvirt does not report <backup supported=\'yes\'/>: pull-mode backup unavailable');
  writeFileSync(path.join(stateDir(), 'started-by'), `${process.pid}\n`);
  return { started };
}

export async function stopLibvirt(s: StartedDaemons): Promise<void> {
  for (const d of [...s.started].reverse()) {
    const pid = ours(d);
    if (pid) {
      await killAndWait(pid, 10_000);
      log(`stopped ${d} (pid ${pid})`);
    }
    rmSync(path.join(stateDir(), `${d}.pid`), { force: true });
  }
}

/** The QEMU user libvirt runs guests as (from qemu.conf; Debian: libvirt-qemu). */
export function qemuUser(): { uid: number; gid: number; name: string } {
  let name = 'libvirt-qemu';
  try {
    const m = /^\s*user\s*=\s*"([^"]+)"/m.exec(readFileSync('/etc/libvirt/qemu.conf', 'utf8'));
    if (m) name = m[1];
  } catch { /* default */ }
  const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  return { name, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** A directory QEMU can bind NBD sockets in (backup-begin's unix socket). */
export function qemuWritableDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const u = qemuUser();
  chownSync(dir, u.uid, u.gid);
  chmodSync(dir, 0o770);
  return dir;
}
