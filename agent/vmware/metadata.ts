/**
 * @layer logic
 * What a VMware descriptor says about a VM, as it is recorded in the repository's metadata.json
 * under `platform_metadata.vmware` (docs/FORMAT.md, "platform_metadata.vmware"): a zod schema, so
 * every reader (the control plane's restore plan, the UI) checks it the same way.
 */
import { z } from 'zod';

export const VMWARE_CONTROLLERS = ['scsi', 'ide', 'sata', 'nvme'] as const;

export const VmwareDisk = z.object({
  /** the descriptor's own name for the disk: OVF diskId, or the .vmx device (scsi0:0) */
  key: z.string().min(1),
  /** the VMDK's file name in the export (relative to the descriptor) */
  file: z.string().min(1),
  controller: z.enum(VMWARE_CONTROLLERS),
  /** lsilogic, lsisas1068, pvscsi, buslogic, ahci, … as VMware names it; null when not said */
  controller_model: z.string().nullable(),
  bus: z.number().int().nonnegative(),
  unit: z.number().int().nonnegative(),
  capacity: z.number().int().positive(),
  /** streamOptimized, monolithicSparse, monolithicFlat, vmfs, vmfsSparse, … */
  vmdk_format: z.string(),
}).loose();
export type VmwareDisk = z.infer<typeof VmwareDisk>;

export const VmwareNic = z.object({
  network: z.string(),
  /** e1000, e1000e, vmxnet3, pcnet32, … (lower case) */
  adapter_type: z.string(),
  mac: z.string().nullable(),
}).loose();
export type VmwareNic = z.infer<typeof VmwareNic>;

export const VmwareVm = z.object({
  name: z.string().min(1),
  instance_uuid: z.string().nullable(),
  bios_uuid: z.string().nullable(),
  /** vmw:osType / guestOS, e.g. ubuntu64Guest, windows2019srv_64Guest */
  guest_os_id: z.string().nullable(),
  cpus: z.number().int().positive(),
  memory_mib: z.number().int().positive(),
  firmware: z.enum(['bios', 'efi']),
  /** vmx-19 */
  hardware_version: z.string().nullable(),
  disks: z.array(VmwareDisk).min(1),
  nics: z.array(VmwareNic),
  /** what was imported: an OVA, an OVF folder or a datastore VM folder (.vmx) */
  source: z.object({ kind: z.enum(['ova', 'ovf', 'vmx']), file: z.string() }),
}).loose();
export type VmwareVm = z.infer<typeof VmwareVm>;

/** Windows guests need virtio drivers before they boot on KVM with virtio devices. */
export function isWindowsGuest(guestOsId: string | null): boolean {
  return guestOsId !== null && /^win/i.test(guestOsId);
}

/**
 * The repository's VM id of a VMware VM: its instance UUID (stable across exports of the same VM),
 * else its BIOS UUID; lower case. Without either, the caller must give one (--vm-id).
 */
export function vmwareVmId(vm: VmwareVm): string | undefined {
  return (vm.instance_uuid ?? vm.bios_uuid)?.toLowerCase();
}

/** The VM as a descriptor says it, before the reader adds where it came from. */
export const VmwareVmCore = VmwareVm.omit({ source: true });
export type VmwareVmCore = z.infer<typeof VmwareVmCore>;
