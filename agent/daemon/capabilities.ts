/**
 * @layer adapter
 * What this KVM host can do, as the daemon's health reports it: libvirt's library and hypervisor
 * versions (`virsh version`), whether pull-mode backup is supported (`virsh domcapabilities`:
 * `<backup supported='yes'/>`, for kvm when /dev/kvm exists, else qemu/TCG), and the qemu-img
 * and qemu-nbd versions. A tool that is missing or fails gives null, never an exception; the
 * problems it causes are listed by `capabilityProblems`.
 */
import { existsSync } from 'node:fs';
import { run } from '../system/run.ts';
import type { Capabilities } from './service.ts';

async function output(program: string, args: string[]): Promise<string | null> {
  try {
    return (await run(program, args, { timeoutMs: 15_000 })).stdout;
  } catch {
    return null;
  }
}

const firstLine = (s: string | null) => s?.split('\n')[0]?.trim() || null;

export async function probeCapabilities(): Promise<Capabilities> {
  const virttype = existsSync('/dev/kvm') ? 'kvm' : 'qemu';
  const [version, domcaps, qemuImg, qemuNbd] = await Promise.all([
    output('virsh', ['-c', 'qemu:///system', 'version']),
    output('virsh', ['-c', 'qemu:///system', 'domcapabilities', '--virttype', virttype]),
    output('qemu-img', ['--version']),
    output('qemu-nbd', ['--version']),
  ]);
  return {
    libvirt: {
      version: /Using library:\s*(.+)/.exec(version ?? '')?.[1]?.trim() ?? null,
      hypervisor: /Running hypervisor:\s*(.+)/.exec(version ?? '')?.[1]?.trim() ?? null,
      backup: /<backup supported='yes'\/>/.test(domcaps ?? ''),
    },
    qemuImg: firstLine(qemuImg),
    qemuNbd: firstLine(qemuNbd),
    nbd: { client: 'builtin', transports: ['unix', 'tcp'], metaContexts: ['base:allocation', 'qemu:dirty-bitmap:*'] },
  };
}

/** Why a host with these capabilities cannot back up VMs (empty: it can). */
export function capabilityProblems(c: Capabilities): string[] {
  const p: string[] = [];
  if (!c.libvirt.version) p.push('libvirt does not answer on qemu:///system (is libvirtd running?)');
  else if (!c.libvirt.backup) p.push(`libvirt ${c.libvirt.version} does not support pull-mode backup (<backup supported='yes'/> missing from domcapabilities)`);
  if (!c.qemuImg) p.push('qemu-img is not installed');
  if (!c.qemuNbd) p.push('qemu-nbd is not installed (needed to back up stopped VMs)');
  return p;
}
