/**
 * @layer logic
 * The dry run of a cross-platform restore (issue 16 §3): how a VMware restore point becomes a
 * CloudStack KVM VM. Plain data in (the point's `platform_metadata.vmware`, its disks, what
 * CloudStack offers: zones, service offerings, networks, and the admin's choices), a plan out:
 * target zone, the nearest service offering, each VMware network mapped to a CloudStack network
 * (only the admin chooses; nothing is guessed), boot type, the disk controller and NIC model KVM
 * will use, what the guest needs, and what blocks the restore — in words an admin can act on.
 *
 * KVM device choices: a Linux guest gets virtio disks and virtio NICs (its kernel has the
 * drivers). A Windows guest boots from SATA with e1000 NICs unless the admin says the virtio
 * drivers are installed (`virtioDrivers`), because Windows has no virtio driver of its own and
 * would not find its boot disk (INACCESSIBLE_BOOT_DEVICE). CloudStack takes these as the
 * template's details `rootDiskController` / `dataDiskController` and `nicAdapter`.
 */
import { isWindowsGuest, type VmwareVm } from '../../agent/vmware/metadata.ts';

export interface PlanOffering { id: string; name: string; cpuNumber: number; memory: number }
export interface PlanNetwork { id: string; name: string; zoneId: string }
export interface PlanZone { id: string; name: string }
export interface PlanDisk { index: number; target: string; virtual_size: number; vmware_device?: string }

export interface RestorePlanInput {
  vm: VmwareVm;
  disks: PlanDisk[];
  zones: PlanZone[];
  offerings: PlanOffering[];
  networks: PlanNetwork[];
  /** the admin's choices */
  zoneId?: string;
  serviceOfferingId?: string;
  /** VMware network name → CloudStack network id */
  networkMap?: Record<string, string>;
  /** the admin installed the virtio drivers in the Windows guest before the export */
  virtioDrivers?: boolean;
}

export type KvmDiskController = 'virtio' | 'sata' | 'scsi' | 'ide';
export type KvmNicModel = 'virtio' | 'e1000';

export interface RestorePlan {
  ready: boolean;
  /** what stops the restore until the admin acts (empty when ready) */
  blockers: string[];
  zone: PlanZone | null;
  serviceOffering: (PlanOffering & { fit: 'exact' | 'larger' | 'smaller'; note: string }) | null;
  boot: { type: 'BIOS' | 'UEFI'; mode: 'LEGACY'; note: string };
  disks: { index: number; target: string; role: 'root' | 'data'; sizeBytes: number; vmware: string; kvmController: KvmDiskController; via: 'template' | 'volume' }[];
  nics: { index: number; vmwareNetwork: string; mac: string | null; vmwareAdapter: string; kvmModel: KvmNicModel; network: PlanNetwork | null; choices: PlanNetwork[] }[];
  /** CloudStack template details the restore sets */
  templateDetails: Record<string, string>;
  guest: { os: string | null; windows: boolean; needs: string[] };
}

const mib = (n: number) => `${n} MiB`;

/** The smallest offering that holds the VM (CPUs and memory); else the largest there is, said to be smaller. */
export function nearestOffering(offerings: readonly PlanOffering[], cpus: number, memoryMiB: number): RestorePlan['serviceOffering'] {
  if (!offerings.length) return null;
  const fits = offerings.filter((o) => o.cpuNumber >= cpus && o.memory >= memoryMiB)
    .sort((a, b) => (a.cpuNumber - cpus) * 1024 + (a.memory - memoryMiB) - ((b.cpuNumber - cpus) * 1024 + (b.memory - memoryMiB)) || a.name.localeCompare(b.name));
  if (fits.length) {
    const o = fits[0];
    const exact = o.cpuNumber === cpus && o.memory === memoryMiB;
    return { ...o, fit: exact ? 'exact' : 'larger', note: exact ? `${o.name} matches the VM: ${cpus} CPUs, ${mib(memoryMiB)}` : `${o.name} (${o.cpuNumber} CPUs, ${mib(o.memory)}) is the smallest offering that holds the VM's ${cpus} CPUs and ${mib(memoryMiB)}` };
  }
  const o = [...offerings].sort((a, b) => b.cpuNumber * 1024 + b.memory - (a.cpuNumber * 1024 + a.memory))[0];
  return { ...o, fit: 'smaller', note: `no offering holds the VM's ${cpus} CPUs and ${mib(memoryMiB)}; ${o.name} (${o.cpuNumber} CPUs, ${mib(o.memory)}) is the largest: create a bigger offering, or accept a smaller VM` };
}

export function restorePlan(input: RestorePlanInput): RestorePlan {
  const { vm } = input;
  const blockers: string[] = [];
  const windows = isWindowsGuest(vm.guest_os_id);
  const virtio = !windows || input.virtioDrivers === true;

  let zone: PlanZone | null = null;
  if (input.zoneId) {
    zone = input.zones.find((z) => z.id === input.zoneId) ?? null;
    if (!zone) blockers.push(`zone ${input.zoneId} does not exist in CloudStack (zones: ${input.zones.map((z) => z.name).join(', ') || 'none'})`);
  } else if (input.zones.length === 1) zone = input.zones[0];
  else blockers.push(`choose the target zone (zoneId): ${input.zones.map((z) => `${z.name} (${z.id})`).join(', ') || 'CloudStack has no zone'}`);

  let serviceOffering = nearestOffering(input.offerings, vm.cpus, vm.memory_mib);
  if (input.serviceOfferingId) {
    const o = input.offerings.find((x) => x.id === input.serviceOfferingId);
    if (!o) blockers.push(`service offering ${input.serviceOfferingId} does not exist`);
    else serviceOffering = { ...o, fit: o.cpuNumber >= vm.cpus && o.memory >= vm.memory_mib ? (o.cpuNumber === vm.cpus && o.memory === vm.memory_mib ? 'exact' : 'larger') : 'smaller', note: `${o.name} chosen by the admin` };
  }
  if (!serviceOffering) blockers.push('CloudStack has no service offering: create one with at least the VM\'s CPUs and memory');

  const zoneNets = input.networks.filter((n) => !zone || n.zoneId === zone.id);
  const nics = vm.nics.map((n, i) => {
    const chosen = input.networkMap?.[n.network];
    const network = chosen ? zoneNets.find((x) => x.id === chosen) ?? null : null;
    if (chosen && !network) blockers.push(`network ${chosen}, chosen for VMware network '${n.network}', is not a network of zone ${zone?.name ?? '?'}`);
    if (!chosen) blockers.push(`choose the CloudStack network for VMware network '${n.network}' (NIC ${i + 1}, ${n.mac ?? 'no MAC'}): ${zoneNets.map((x) => `${x.name} (${x.id})`).join(', ') || `zone ${zone?.name ?? '?'} has no network: create one first`}`);
    return { index: i, vmwareNetwork: n.network, mac: n.mac, vmwareAdapter: n.adapter_type, kvmModel: (virtio ? 'virtio' : 'e1000') as KvmNicModel, network, choices: zoneNets };
  });

  const byIndex = [...input.disks].sort((a, b) => a.index - b.index);
  const controller: KvmDiskController = virtio ? 'virtio' : 'sata';
  const disks = byIndex.map((d, i) => {
    const vd = vm.disks.find((x) => `${x.controller}${x.bus}:${x.unit}` === d.vmware_device) ?? vm.disks[i];
    return {
      index: d.index, target: d.target, role: (i === 0 ? 'root' : 'data') as 'root' | 'data', sizeBytes: d.virtual_size,
      vmware: vd ? `${vd.controller}${vd.bus}:${vd.unit} (${vd.controller_model ?? vd.controller}) ${vd.file}` : d.target,
      kvmController: controller, via: (i === 0 ? 'template' : 'volume') as 'template' | 'volume',
    };
  });
  if (!disks.length) blockers.push('the point has no disk');

  const needs: string[] = [];
  if (windows && !input.virtioDrivers) {
    needs.push('Windows has no virtio drivers of its own: the VM boots from a SATA disk with an e1000 NIC (slower). For virtio, install the virtio-win drivers (viostor, vioscsi, NetKVM) in the guest, then change the template details rootDiskController and nicAdapter to virtio and restart the VM.');
  }
  if (windows) needs.push('Windows sees new hardware: it may ask to be activated again, and a static IP address set on the VMware NIC must be set again on the new one.');
  if (vm.nics.some((n) => n.adapter_type.startsWith('vmxnet'))) needs.push(`the guest's network device changes from ${vm.nics.map((n) => n.adapter_type).join(', ')} to ${virtio ? 'virtio' : 'e1000'}: its interface name may change (e.g. ens192 becomes ens3); check network configuration that names the interface.`);
  needs.push('VMware Tools does nothing on KVM: remove it and install qemu-guest-agent, so Sendense can freeze the file systems for application-consistent backups.');
  if (vm.firmware === 'efi') needs.push('the VM boots with UEFI: the KVM hosts of the zone need OVMF (CloudStack host capability "UEFI"); its NVRAM (boot entries) does not come from VMware, so the firmware falls back to the default boot loader path (\\EFI\\BOOT\\BOOTX64.EFI).');
  const templateDetails: Record<string, string> = { rootDiskController: controller, dataDiskController: controller, nicAdapter: virtio ? 'virtio' : 'e1000' };
  return {
    ready: blockers.length === 0, blockers, zone, serviceOffering,
    boot: vm.firmware === 'efi'
      ? { type: 'UEFI', mode: 'LEGACY', note: 'the VMware VM used EFI firmware: deployed with boottype=UEFI, bootmode=LEGACY (Secure Boot state is not in the export)' }
      : { type: 'BIOS', mode: 'LEGACY', note: 'the VMware VM used BIOS firmware: deployed with boottype=BIOS' },
    disks, nics, templateDetails, guest: { os: vm.guest_os_id, windows, needs },
  };
}
