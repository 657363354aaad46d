/**
 * @layer logic
 * libvirt checkpoint XML: the one Sendense hands to `backup-begin` (a new checkpoint with a bitmap
 * on chosen disks, 'no' on the others), the one it hands to `checkpoint-create --redefine` (a
 * record libvirt forgot), and reading `checkpoint-dumpxml --no-domain` back into a record.
 * Names and paths are escaped; callers check the sendense- prefix.
 */
import type { CheckpointRecord } from './port.ts';
import { child, childrenNamed, escapeXml as x, parseXml } from './xml.ts';

/** A new checkpoint for backup-begin: bitmap (named like the checkpoint) on `withBitmap`, none elsewhere. */
export function newCheckpointXml(name: string, allDisks: readonly string[], withBitmap: readonly string[]): string {
  const disks = allDisks.map((d) => `    <disk name='${x(d)}' checkpoint='${withBitmap.includes(d) ? 'bitmap' : 'no'}'/>`).join('\n');
  return `<domaincheckpoint>\n  <name>${x(name)}</name>\n  <disks>\n${disks}\n  </disks>\n</domaincheckpoint>\n`;
}

/** A stored record for `checkpoint-create --redefine` (creates no bitmap). */
export function redefineCheckpointXml(rec: CheckpointRecord): string {
  const parent = rec.parent ? `  <parent><name>${x(rec.parent)}</name></parent>\n` : '';
  const disks = rec.disks.map((d) => `    <disk name='${x(d.target)}' checkpoint='bitmap' bitmap='${x(d.bitmap)}'/>`).join('\n');
  return `<domaincheckpoint>\n  <name>${x(rec.name)}</name>\n${parent}  <creationTime>${Math.floor(rec.creationTime)}</creationTime>\n  <disks>\n${disks}\n  </disks>\n</domaincheckpoint>\n`;
}

/** `virsh checkpoint-dumpxml --no-domain` → record (only the disks that carry a bitmap). */
export function parseCheckpointXml(xml: string): CheckpointRecord {
  const cp = parseXml(xml);
  const name = child(cp, 'name')?.text.trim() ?? '';
  const parent = child(child(cp, 'parent'), 'name')?.text.trim();
  const creationTime = Number(child(cp, 'creationTime')?.text.trim() ?? 0);
  const disks = childrenNamed(child(cp, 'disks'), 'disk')
    .filter((d) => d.attrs.checkpoint === 'bitmap')
    .map((d) => ({ target: d.attrs.name ?? '', bitmap: d.attrs.bitmap ?? name }));
  return { name, creationTime, disks, ...(parent ? { parent } : {}) };
}
