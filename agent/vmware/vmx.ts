/**
 * @layer logic
 * A datastore VM's `.vmx` (VMware's `key = "value"` configuration): name, guest OS, CPUs,
 * memory, firmware, UUIDs, hardware version, the hard disks on their controllers
 * (`scsi0:1.fileName`, with `scsi0.virtualDev`), NICs (`ethernet0.*`). The disks' capacities
 * come from their VMDK descriptors, so this returns disks without them (the reader fills them in).
 * CD-ROMs and absent devices (`present = "FALSE"`) are left out.
 */
import { VmwareError } from './errors.ts';
import { VMWARE_CONTROLLERS, type VmwareDisk, type VmwareNic, type VmwareVm } from './metadata.ts';
import { normalizeMac, normalizeUuid } from './units.ts';

export interface VmxDisk { key: string; file: string; controller: VmwareDisk['controller']; controller_model: string | null; bus: number; unit: number }
export type VmxVm = Omit<VmwareVm, 'disks' | 'source'> & { disks: VmxDisk[] };

export function parseVmxText(textIn: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [i, raw] of textIn.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('.encoding')) continue;
    const m = /^([\w.:-]+)\s*=\s*"(.*)"\s*$/.exec(line) ?? /^([\w.:-]+)\s*=\s*(\S*)\s*$/.exec(line);
    if (!m) throw new VmwareError('invalid', file, `line ${i + 1} is not 'key = "value"' (got ${JSON.stringify(line.slice(0, 80))}): not a .vmx file, or damaged`);
    out.set(m[1].toLowerCase(), m[2]);
  }
  return out;
}

const DEFAULT_MODEL: Record<VmwareDisk['controller'], string | null> = { scsi: 'lsilogic', ide: null, sata: 'ahci', nvme: 'nvme' };

export function parseVmx(textIn: string, file: string): VmxVm {
  const kv = parseVmxText(textIn, file);
  const get = (k: string) => kv.get(k.toLowerCase());
  const present = (k: string) => (get(`${k}.present`) ?? 'false').toLowerCase() === 'true';
  const disks: VmxDisk[] = [];
  for (const key of kv.keys()) {
    const m = /^(scsi|ide|sata|nvme)(\d+):(\d+)\.filename$/.exec(key);
    if (!m) continue;
    const dev = `${m[1]}${m[2]}:${m[3]}`;
    if (!present(dev)) continue;
    const type = (get(`${dev}.deviceType`) ?? '').toLowerCase();
    if (type.includes('cdrom') || type.includes('floppy')) continue;
    const fname = kv.get(key)!;
    if (!fname.toLowerCase().endsWith('.vmdk')) continue;
    if (fname.includes('/')) throw new VmwareError('unsupported', file, `${dev} uses ${fname}, outside the VM's folder: copy the disk into the folder first`);
    const controller = m[1] as (typeof VMWARE_CONTROLLERS)[number];
    disks.push({
      key: dev, file: fname, controller, controller_model: get(`${m[1]}${m[2]}.virtualDev`)?.toLowerCase() ?? DEFAULT_MODEL[controller],
      bus: Number(m[2]), unit: Number(m[3]),
    });
  }
  if (!disks.length) throw new VmwareError('invalid', file, 'names no hard disk (no present scsiX:Y / sataX:Y / ideX:Y / nvmeX:Y with a .vmdk fileName)');
  disks.sort((a, b) => VMWARE_CONTROLLERS.indexOf(a.controller) - VMWARE_CONTROLLERS.indexOf(b.controller) || a.bus - b.bus || a.unit - b.unit);
  const nics: VmwareNic[] = [];
  for (const key of kv.keys()) {
    const m = /^(ethernet\d+)\.present$/.exec(key);
    if (!m || !present(m[1])) continue;
    nics.push({
      network: get(`${m[1]}.networkName`) ?? '',
      adapter_type: (get(`${m[1]}.virtualDev`) ?? 'e1000').toLowerCase(),
      mac: normalizeMac(get(`${m[1]}.address`) ?? get(`${m[1]}.generatedAddress`)),
    });
  }
  const cpus = Number(get('numvcpus') ?? 1);
  const mem = Number(get('memsize'));
  if (!(mem > 0)) throw new VmwareError('invalid', file, 'has no memsize (MiB of memory)');
  const name = get('displayName');
  if (!name) throw new VmwareError('invalid', file, 'has no displayName');
  const hw = get('virtualHW.version');
  return {
    name, instance_uuid: normalizeUuid(get('vc.uuid')), bios_uuid: normalizeUuid(get('uuid.bios')),
    guest_os_id: get('guestOS') ?? null, cpus: Number.isInteger(cpus) && cpus > 0 ? cpus : 1, memory_mib: mem,
    firmware: (get('firmware') ?? 'bios').toLowerCase() === 'efi' ? 'efi' : 'bios',
    hardware_version: hw ? `vmx-${hw}` : null, disks, nics,
  };
}
