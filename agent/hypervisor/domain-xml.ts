/**
 * @layer logic
 * Reading libvirt's description of a domain: `virsh dominfo` text → DomainInfo, `virsh dumpxml`
 * → its disks (the top source of each, never a backingStore's), the source `index` that names
 * QEMU's block node (`libvirt-<index>-format`), and the DAC label QEMU runs as.
 */
import type { DiskKind, DomainDisk, DomainInfo, DomainState } from './port.ts';
import { child, childrenNamed, parseXml, path } from './xml.ts';

/** libvirt's state words (`virsh domstate`, dominfo "State:") → the port's four states. */
export function mapDomainState(word: string): DomainState {
  switch (word.trim()) {
    case 'running': case 'idle': case 'blocked': case 'in shutdown': return 'running';
    case 'paused': case 'pmsuspended': return 'paused';
    case 'shut off': case 'crashed': return 'shutoff';
    default: return 'other';
  }
}

/** `virsh dominfo` → DomainInfo; undefined when a required line is missing. */
export function parseDomInfo(text: string): DomainInfo | undefined {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const c = line.indexOf(':');
    if (c > 0) kv.set(line.slice(0, c).trim(), line.slice(c + 1).trim());
  }
  const name = kv.get('Name');
  const uuid = kv.get('UUID');
  const state = kv.get('State');
  if (!name || !uuid || !state) return undefined;
  const id = Number.parseInt(kv.get('Id') ?? '', 10);
  return {
    name, uuid,
    state: mapDomainState(state),
    persistent: kv.get('Persistent') === 'yes',
    ...(Number.isFinite(id) && id >= 0 ? { id } : {}),
  };
}

export interface ParsedDisk extends DomainDisk {
  /** source index in the live XML: QEMU's node is `libvirt-<index>-format` */
  index?: number;
}

const KINDS: readonly string[] = ['file', 'block', 'network', 'volume'];

export function parseDomainDisks(xml: string): ParsedDisk[] {
  const dom = parseXml(xml);
  const out: ParsedDisk[] = [];
  for (const d of childrenNamed(path(dom, 'devices'), 'disk')) {
    const target = child(d, 'target')?.attrs.dev;
    if (!target) continue;
    const type = d.attrs.type ?? 'file';
    const src = child(d, 'source');
    let source = '';
    if (src) {
      if (type === 'file') source = src.attrs.file ?? '';
      else if (type === 'block') source = src.attrs.dev ?? '';
      else if (type === 'network') source = `${src.attrs.protocol ?? 'network'}:${src.attrs.name ?? ''}`;
      else if (type === 'volume') source = `${src.attrs.pool ?? ''}/${src.attrs.volume ?? ''}`;
    }
    const index = Number.parseInt(src?.attrs.index ?? '', 10);
    const alias = child(d, 'alias')?.attrs.name;
    out.push({
      target,
      kind: (KINDS.includes(type) ? type : 'file') as DiskKind,
      source,
      format: child(d, 'driver')?.attrs.type ?? '',
      device: d.attrs.device ?? 'disk',
      readonly: child(d, 'readonly') !== undefined,
      ...(alias ? { alias } : {}),
      ...(Number.isFinite(index) ? { index } : {}),
    });
  }
  return out;
}

/** The uid:gid QEMU runs as for this domain, from `<seclabel model='dac'><label>+64055:+64055`. */
export function parseDacLabel(xml: string): { uid: number; gid: number } | undefined {
  const dom = parseXml(xml);
  for (const s of childrenNamed(dom, 'seclabel')) {
    if (s.attrs.model !== 'dac') continue;
    const m = /^\+(\d+):\+(\d+)$/.exec(child(s, 'label')?.text.trim() ?? '');
    if (m) return { uid: Number(m[1]), gid: Number(m[2]) };
  }
  return undefined;
}
