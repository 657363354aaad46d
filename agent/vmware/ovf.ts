/**
 * @layer logic
 * Reads an OVF descriptor (DMTF DSP0243, envelope namespace http://schemas.dmtf.org/ovf/envelope/1)
 * with VMware's extensions (namespace http://www.vmware.com/schema/ovf: vmw:osType, vmw:Config
 * keys `firmware`, `uuid`, `instanceUuid`) into the VM's description (metadata.ts) and the files
 * the References section names. Elements are matched by local name (any prefix); the envelope's
 * namespace is checked. A descriptor that lacks what a restore needs is refused, naming what.
 *
 * Resource types (CIM_ResourceAllocationSettingData.ResourceType): 3 CPU, 4 memory, 5 IDE
 * controller, 6 parallel SCSI HBA, 10 Ethernet adapter, 17 disk drive, 20 other storage device
 * (VMware's SATA, vmware.sata.ahci), 24/"vmware.nvme.controller" NVMe.
 */
import { parseXml, XmlError, type XmlElement } from '../hypervisor/xml.ts';
import { VmwareError } from './errors.ts';
import { VmwareVmCore, type VmwareDisk, type VmwareNic } from './metadata.ts';
import { normalizeMac, normalizeUuid, unitBytes } from './units.ts';

export const OVF_ENVELOPE_NS = 'http://schemas.dmtf.org/ovf/envelope/1';
export const VMW_NS = 'http://www.vmware.com/schema/ovf';

export interface OvfFile {
  id: string;
  href: string;
  size: number | null;
}

export interface OvfDescriptor {
  vm: VmwareVmCore;
  files: OvfFile[];
}

const local = (name: string) => name.slice(name.indexOf(':') + 1);
const kids = (el: XmlElement | undefined, name: string) => (el ? el.children.filter((c) => local(c.name) === name) : []);
const kid = (el: XmlElement | undefined, name: string) => kids(el, name)[0];
const text = (el: XmlElement | undefined, name: string) => kid(el, name)?.text.trim() || undefined;
function attr(el: XmlElement | undefined, name: string): string | undefined {
  if (!el) return undefined;
  for (const [k, v] of Object.entries(el.attrs)) if (local(k) === name && !k.startsWith('xmlns')) return v;
  return undefined;
}

function controllerOf(item: XmlElement): { controller: VmwareDisk['controller']; model: string | null } | undefined {
  const type = text(item, 'ResourceType');
  const sub = text(item, 'ResourceSubType')?.toLowerCase() ?? null;
  if (type === '6') return { controller: 'scsi', model: sub === 'virtualscsi' ? 'pvscsi' : sub };
  if (type === '5') return { controller: 'ide', model: sub };
  if (type === '20' && sub?.includes('sata')) return { controller: 'sata', model: sub.includes('ahci') ? 'ahci' : sub };
  if ((type === '20' || type === '24') && sub?.includes('nvme')) return { controller: 'nvme', model: 'nvme' };
  return undefined;
}

export function parseOvf(xml: string, file: string): OvfDescriptor {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (e) {
    throw new VmwareError('invalid', file, `not well-formed XML (${(e as XmlError).message}); the OVF descriptor is damaged or cut short`, { cause: e });
  }
  const bad = (why: string): never => { throw new VmwareError('invalid', file, `${why}; this is not an OVF descriptor Sendense can import`); };
  if (local(root.name) !== 'Envelope') bad(`the root element is <${root.name}>, not an OVF <Envelope>`);
  const nss = Object.entries(root.attrs).filter(([k]) => k === 'xmlns' || k.startsWith('xmlns:')).map(([, v]) => v);
  if (!nss.includes(OVF_ENVELOPE_NS)) bad(`the envelope does not use the DMTF OVF namespace ${OVF_ENVELOPE_NS}`);

  const files: OvfFile[] = kids(kid(root, 'References'), 'File').map((f) => {
    const id = attr(f, 'id') ?? bad('a <File> in References has no ovf:id');
    const href = attr(f, 'href') ?? bad(`File ${id} has no ovf:href`);
    if (href.includes('/') || href.includes('\\') || href.startsWith('.')) bad(`File ${id} names '${href}': only plain file names next to the descriptor are accepted`);
    const size = attr(f, 'size');
    return { id, href, size: size === undefined ? null : Number(size) };
  });
  const diskDefs = new Map<string, { file: OvfFile; capacity: number; format: string }>();
  for (const d of kids(kid(root, 'DiskSection'), 'Disk')) {
    const id = attr(d, 'diskId') ?? bad('a <Disk> has no ovf:diskId');
    const ref = attr(d, 'fileRef') ?? bad(`disk ${id} has no ovf:fileRef (a disk without a file is not supported)`);
    const f = files.find((x) => x.id === ref) ?? bad(`disk ${id} refers to file '${ref}', which References does not list`);
    const unit = unitBytes(attr(d, 'capacityAllocationUnits')) ?? bad(`disk ${id}: unknown ovf:capacityAllocationUnits '${attr(d, 'capacityAllocationUnits')}'`);
    const cap = Number(attr(d, 'capacity'));
    if (!(cap > 0)) bad(`disk ${id} has no positive ovf:capacity`);
    const fmt = attr(d, 'format') ?? '';
    diskDefs.set(id, { file: f, capacity: cap * unit, format: /#(\w+)$/.exec(fmt)?.[1] ?? (fmt || 'unknown') });
  }

  const systems = kids(root, 'VirtualSystem');
  if (systems.length === 0) bad('there is no <VirtualSystem> (a VirtualSystemCollection of several VMs is imported one VM at a time: export each VM)');
  if (systems.length > 1) bad(`there are ${systems.length} VirtualSystems; import one VM at a time`);
  const vs = systems[0];
  const hw = kid(vs, 'VirtualHardwareSection') ?? bad('the VirtualSystem has no VirtualHardwareSection');
  const items = kids(hw, 'Item');
  const configs = new Map<string, string>();
  for (const c of [...kids(hw, 'Config'), ...kids(hw, 'ExtraConfig')]) {
    const k = attr(c, 'key');
    if (k) configs.set(k, attr(c, 'value') ?? '');
  }
  const os = kid(vs, 'OperatingSystemSection');
  const name = text(vs, 'Name') ?? attr(vs, 'id') ?? bad('the VirtualSystem has neither a <Name> nor an ovf:id');

  const byType = (t: string) => items.filter((i) => text(i, 'ResourceType') === t);
  const cpuItem = byType('3')[0] ?? bad('no CPU item (ResourceType 3) in the VirtualHardwareSection');
  const cpus = Number(text(cpuItem, 'VirtualQuantity'));
  if (!Number.isInteger(cpus) || cpus < 1) bad('the CPU item has no VirtualQuantity');
  const memItem = byType('4')[0] ?? bad('no memory item (ResourceType 4) in the VirtualHardwareSection');
  const memUnit = unitBytes(text(memItem, 'AllocationUnits') ?? 'byte * 2^20') ?? bad(`memory: unknown AllocationUnits '${text(memItem, 'AllocationUnits')}'`);
  const memory = Number(text(memItem, 'VirtualQuantity')) * memUnit;
  if (!(memory > 0)) bad('the memory item has no VirtualQuantity');

  const controllers = new Map<string, { controller: VmwareDisk['controller']; model: string | null; bus: number }>();
  for (const it of items) {
    const c = controllerOf(it);
    const id = text(it, 'InstanceID');
    if (c && id) controllers.set(id, { ...c, bus: Number(text(it, 'Address') ?? 0) || 0 });
  }
  const disks: VmwareDisk[] = byType('17').map((it) => {
    const host = text(it, 'HostResource') ?? bad(`disk item ${text(it, 'InstanceID') ?? '?'} has no HostResource`);
    const id = /^ovf:\/(?:disk|file)\/(.+)$/.exec(host)?.[1] ?? bad(`disk item HostResource '${host}' is not ovf:/disk/ID`);
    const def = diskDefs.get(id) ?? bad(`disk item names disk '${id}', which the DiskSection does not define`);
    const parent = text(it, 'Parent');
    const ctl = parent === undefined ? undefined : controllers.get(parent);
    if (!ctl) bad(`disk '${id}' sits on controller '${parent ?? '(none)'}', which is no SCSI, IDE, SATA or NVMe controller item`);
    return {
      key: id, file: def.file.href, controller: ctl!.controller, controller_model: ctl!.model, bus: ctl!.bus,
      unit: Number(text(it, 'AddressOnParent') ?? 0) || 0, capacity: def.capacity, vmdk_format: def.format,
    };
  });
  if (!disks.length) bad('the VirtualSystem has no disk (ResourceType 17)');
  const nics: VmwareNic[] = byType('10').map((it) => ({
    network: text(it, 'Connection') ?? '',
    adapter_type: (text(it, 'ResourceSubType') ?? 'e1000').toLowerCase(),
    mac: normalizeMac(text(it, 'Address')),
  }));
  const fw = (configs.get('firmware') ?? 'bios').toLowerCase();
  const vm = VmwareVmCore.parse({
    name,
    instance_uuid: normalizeUuid(configs.get('instanceUuid') ?? configs.get('vc.uuid')),
    bios_uuid: normalizeUuid(configs.get('uuid') ?? configs.get('uuid.bios')),
    guest_os_id: attr(os, 'osType') ?? null,
    cpus, memory_mib: Math.round(memory / 2 ** 20), firmware: fw === 'efi' ? 'efi' : 'bios',
    hardware_version: text(kid(hw, 'System'), 'VirtualSystemType') ?? null,
    disks, nics,
  });
  return { vm, files };
}
