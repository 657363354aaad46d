/**
 * A KVM host with a real systemd on this machine (which has none): the Debian 12 root of
 * nshost-rootfs.ts unpacked into the run's directory and booted with systemd as PID 1 in its own
 * PID, mount, UTS and cgroup namespaces, inside a lab network namespace (netns.ts) reached over
 * a veth pair at a 198.18.0.0/15 address. sshd and libvirtd start there as on any host.
 *
 * How: `ip netns exec NS unshare --fork --pid --mount --uts --cgroup sh -c BOOT` from a child cgroup
 * of the name=systemd and unified hierarchies (so the host's systemd manages only its own
 * subtree: two hosts never share a cgroup); BOOT mounts proc, sysfs, a cgroup tmpfs with
 * name=systemd + cgroup2 seen from the new cgroup namespace, tmpfs /run and /tmp, a devpts
 * instance, then pivot_roots into the root (systemd's per-service mount namespaces — ProtectSystem
 * and friends — fail with EINVAL under a plain chroot) and execs /lib/systemd/systemd with
 * container=other. The mounts live in the host's mount namespace and go with it.
 *
 * What the namespace cannot do: no /dev/kvm (QEMU runs TCG, as everywhere in the lab); the v1
 * resource controllers (cpu, memory, pids, …) are not mounted, so systemd applies no limits
 * there; systemd-logind is not needed and may fail; stop is SIGKILL of the host's PID 1 from
 * outside (systemd ignores SIGTERM as PID 1), which is a power cut, not a shutdown.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { run, type RunOptions, type RunResult } from '../../agent/system/run.ts';
import { createNetns, type LabNetns } from './netns.ts';
import { nshostRootfs } from './nshost-rootfs.ts';
import { labDir, labName, runId } from './paths.ts';
import { isAlive, waitFor } from './proc.ts';
import { log } from './log.ts';

const CGROUP_HIERARCHIES = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified'];
const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export interface NsHost {
  name: string;
  hostname: string;
  /** the host's root file system, seen from this machine */
  root: string;
  net: LabNetns;
  /** systemd's pid, seen from this machine */
  pid: number;
  /** runs a program inside the host (all its namespaces, its root), with a clean environment */
  exec(program: string, args: string[], opts?: RunOptions): Promise<RunResult>;
  sh(script: string, opts?: RunOptions): Promise<RunResult>;
  /** this machine's path of a path inside the host (through /proc/PID/root, so also its /run) */
  hostPath(p: string): string;
  /** copies a file into the host's /root and returns its path inside */
  copyIn(file: string): string;
  stop(): Promise<void>;
}

const BOOT = String.raw`set -e
R="$1"
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount -t sysfs sys "$R/sys"
mount -t tmpfs -o mode=755 cgroup "$R/sys/fs/cgroup"
mkdir -p "$R/sys/fs/cgroup/systemd" "$R/sys/fs/cgroup/unified"
mount -t cgroup -o none,name=systemd cgroup "$R/sys/fs/cgroup/systemd"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup/unified"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
hostname "$2"
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
exec chroot . /usr/bin/env -i container=other PATH=${PATH} /lib/systemd/systemd --system --log-target=journal-or-kmsg
`;

function removeCgroups(name: string): void {
  for (const h of CGROUP_HIERARCHIES) {
    const top = path.join(h, name);
    const walk = (d: string) => {
      if (!existsSync(d)) return;
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
      try { rmdirSync(d); } catch { /* still has a process that is dying */ }
    };
    walk(top);
  }
}

function childOf(pid: number): number | undefined {
  try {
    const c = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return c.length ? Number(c[0]) : undefined;
  } catch { return undefined; }
}

/** Boots one namespace host; resolves when systemd says the system is up (running or degraded). */
export async function bootNsHost(label = 'kvm'): Promise<NsHost> {
  const tarball = await nshostRootfs();
  const name = labName(`ns${label}`);
  const hostname = `${label}-${process.pid.toString(36)}`;
  const dir = labDir('runs', runId(), 'nshost', name);
  const root = path.join(dir, 'root');
  mkdirSync(root, { recursive: true });
  await run('tar', ['-xf', tarball, '-C', root]);
  writeFileSync(path.join(root, 'etc', 'hostname'), `${hostname}\n`);
  // the unit that sets a login session up is of no use here and only fails
  await run('ln', ['-sf', '/dev/null', path.join(root, 'etc/systemd/system/systemd-logind.service')]);
  const netns = await createNetns(`n${label}`);
  for (const h of CGROUP_HIERARCHIES) mkdirSync(path.join(h, name), { recursive: true });

  const logFile = path.join(dir, 'boot.log');
  const outFd = openSync(logFile, 'a');
  const script = [
    ...CGROUP_HIERARCHIES.map((h) => `echo $$ > ${path.join(h, name, 'cgroup.procs')}`),
    `exec ip netns exec ${netns.name} unshare --fork --pid --mount --uts --cgroup sh -c '${BOOT.replace(/'/g, `'\\''`)}' boot '${root}' '${hostname}'`,
  ].join('\n');
  const child = spawn('sh', ['-c', script], { detached: true, stdio: ['ignore', outFd, outFd] });
  child.unref();
  const unsharePid = child.pid!;
  let pid = 0;
  await waitFor(`systemd of ${name} to start (see ${logFile})`, () => {
    const c = childOf(unsharePid);
    if (c && readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('systemd')) pid = c;
    if (!isAlive(unsharePid)) throw new Error(`[lab] [nshost] ${name} did not boot: ${readFileSync(logFile, 'utf8').trim().slice(-600)}`);
    return pid > 0;
  }, 30_000, 100);
  writeFileSync(path.join(dir, 'systemd.pid'), `${pid}\n`);

  const nsenter = (program: string, args: string[]): [string, string[]] =>
    ['nsenter', ['-t', String(pid), '-m', '-u', '-n', '-p', '-r', '-w', '/usr/bin/env', '-i', `PATH=${PATH}`, 'LANG=C.UTF-8', 'DEBIAN_FRONTEND=noninteractive', program, ...args]];
  const host: NsHost = {
    name, hostname, root, net: netns, pid,
    exec: (program, args, opts) => run(...nsenter(program, args), opts),
    sh: (s, opts) => run(...nsenter('sh', ['-c', s]), opts),
    hostPath: (p) => path.join(`/proc/${pid}/root`, p),
    copyIn: (file) => {
      const inside = path.join('/root', path.basename(file));
      writeFileSync(path.join(root, inside), readFileSync(file));
      return inside;
    },
    stop: async () => {
      if (isAlive(unsharePid)) { try { process.kill(unsharePid, 'SIGKILL'); } catch { /* gone */ } }
      if (isAlive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      await waitFor(`${name} to stop`, () => !isAlive(pid) && !isAlive(unsharePid), 15_000).catch(() => {});
      // processes of the host's cgroups die with its PID namespace; wait for the last ones
      await waitFor(`${name}'s cgroups to empty`, () => { removeCgroups(name); return CGROUP_HIERARCHIES.every((h) => !existsSync(path.join(h, name))); }, 10_000, 200).catch(() => {});
      await netns.remove();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const t0 = Date.now();
  // systemd answers once its private socket is up; --wait then blocks until boot is done
  let s = '';
  let why = '';
  while (Date.now() - t0 < 180_000) {
    const state = await host.exec('systemctl', ['is-system-running', '--wait'], { okCodes: [1], timeoutMs: 120_000 }).catch((e: Error) => ({ stdout: '', stderr: e.message }));
    s = state.stdout.trim();
    why = state.stderr.trim();
    if (s === 'running' || s === 'degraded' || s === 'maintenance' || s === 'stopping') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (s !== 'running' && s !== 'degraded') {
    const failed = (await host.exec('systemctl', ['--failed', '--no-legend', '--plain'], { okCodes: [1] }).catch(() => ({ stdout: '' }))).stdout.trim();
    await host.stop();
    throw new Error(`[lab] [nshost] ${name} booted into state '${s}'${why ? ` (${why})` : ''}: failed units: ${failed || 'none'}`);
  }
  log(`namespace host ${hostname} (${netns.address}) up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${s}`);
  return host;
}

/** The SSH banner of a namespace host's sshd, read over its veth address. */
export function sshBanner(address: string, port = 22, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: address, port });
    const t = setTimeout(() => { s.destroy(); reject(new Error(`[lab] [nshost] no SSH banner from ${address}:${port} in ${timeoutMs} ms`)); }, timeoutMs);
    s.once('data', (d) => { clearTimeout(t); s.end(); resolve(d.toString('utf8').trim()); });
    s.once('error', (e) => { clearTimeout(t); reject(new Error(`[lab] [nshost] ${address}:${port}: ${e.message}`, { cause: e })); });
  });
}

/** Removes the cgroups of namespace hosts whose run is gone (called by cleanup.ts). */
export function removeStaleNsHostCgroups(isStale: (name: string) => boolean): number {
  let n = 0;
  for (const h of CGROUP_HIERARCHIES) {
    if (!existsSync(h)) continue;
    for (const e of readdirSync(h, { withFileTypes: true })) {
      if (e.isDirectory() && e.name.startsWith('sdlab-') && isStale(e.name)) { removeCgroups(e.name); n++; }
    }
  }
  return n;
}
