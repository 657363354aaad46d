/**
 * @layer port
 * What the VMware importer's use case needs from the outside: a VMware export already read and
 * checked (read-export.ts reads one from the file system), and a way to open one of its disks as
 * a BlockSource (qemu-disk.ts: qemu-nbd + the agent's NBD client; tests may hand in memory disks).
 */
import type { BlockSource } from '../blocksource/port.ts';
import type { VmwareDisk, VmwareVm } from './metadata.ts';

export interface VmwareExportDisk {
  meta: VmwareDisk;
  /** what qemu opens (-f vmdk): a path, or a json: spec of a range in the OVA */
  qemuImage: string;
}

export interface VmwareExport {
  vm: VmwareVm;
  disks: VmwareExportDisk[];
  /** what was checked, in words (logged and returned by the import) */
  checks: string[];
}

/** Opens a disk of an export read-only; the source's close() ends whatever was started for it. */
export type OpenVmwareDisk = (qemuImage: string, signal?: AbortSignal) => Promise<BlockSource>;
