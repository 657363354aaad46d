/**
 * @layer logic
 * The repository's JSON documents (docs/FORMAT.md): per-VM metadata.json and the per-point
 * manifest, as zod schemas — every read from a repository goes through them. What a repository
 * holds is untrusted input (another host, a restored copy, a hand edit): parseManifest and
 * parseMetadata also hold every name that becomes a path or a file name — VM id, disk targets,
 * image, backing and sums names, parent — to docs/FORMAT.md's patterns before anything uses it.
 */
import { z } from 'zod';
import { DISK_TARGET_RE, diskFileIndex, isPointId, isVmDirName } from './layout.ts';

export const SOURCE_PLATFORMS = ['vmware', 'cloudstack', 'hyperv', 'aws', 'azure', 'nutanix', 'kvm'] as const;

export const DiskMeta = z.object({
  index: z.number().int().nonnegative(),
  target: z.string().min(1),
  virtual_size: z.number().int().nonnegative(),
  source_format: z.string(),
  device_id: z.number().int().optional(),
  volume_id: z.string().optional(),
}).loose();
export type DiskMeta = z.infer<typeof DiskMeta>;

export const VmMetadata = z.object({
  format: z.literal('sendense-repository-vm'),
  version: z.literal(1),
  vm_uuid: z.string().min(1),
  vm_name: z.string(),
  source_platform: z.enum(SOURCE_PLATFORMS),
  platform_metadata: z.object({
    cloudstack: z.object({
      vm_id: z.string().optional(),
      service_offering: z.string().optional(),
      zone: z.string().optional(),
      template: z.string().optional(),
    }).loose().optional(),
  }).loose(),
  disks: z.array(DiskMeta),
  updated_at: z.string(),
}).loose();
export type VmMetadata = z.infer<typeof VmMetadata>;

const Sha = z.string().regex(/^[0-9a-f]{64}$/);

export const PointDisk = z.object({
  index: z.number().int().nonnegative(),
  target: z.string(),
  type: z.enum(['full', 'incremental']),
  reason: z.string(),
  image: z.string(),
  backing: z.string().nullable(),
  checkpoint: z.string().nullable(),
  virtual_size: z.number().int().nonnegative(),
  file_size: z.number().int().nonnegative(),
  bytes_read: z.number().int().nonnegative(),
  bytes_written: z.number().int().nonnegative(),
  bytes_sent: z.number().int().nonnegative(),
  data_clusters: z.number().int().nonnegative(),
  zero_clusters: z.number().int().nonnegative(),
  sums: z.string(),
  block_size: z.number().int().positive(),
  content_sha256: Sha,
  file_sha256: z.object({ header: Sha, body: Sha }),
}).loose();
export type PointDisk = z.infer<typeof PointDisk>;

export const PointManifest = z.object({
  format: z.literal('sendense-point'),
  version: z.literal(1),
  id: z.string().regex(/^\d{8}-\d{6}$/),
  /**
   * the point's place among the VM's points: 1 for the first, the parent's (previous point's)
   * plus one after it (docs/FORMAT.md "Point ids and order"). Optional: points written before
   * it existed have none; their order is their ids'.
   */
  seq: z.number().int().positive().optional(),
  vm_uuid: z.string(),
  type: z.enum(['full', 'incremental']),
  reason: z.string(),
  parent: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string(),
  finished_at: z.string(),
  duration_ms: z.number().nonnegative(),
  consistency: z.string(),
  vm_state: z.string(),
  disks: z.array(PointDisk).min(1),
  agent: z.object({ host: z.string(), version: z.string() }).loose(),
}).loose();
export type PointManifest = z.infer<typeof PointManifest>;

export class ManifestError extends Error {
  override name = 'ManifestError';
}

const FORMAT_HINT = "(docs/FORMAT.md, 'Names'): the repository was changed by something other than Sendense; restore from another copy or remove the point";

/** The names in a manifest that do not follow the FORMAT's patterns, as messages. */
export function manifestNameProblems(m: PointManifest): string[] {
  const out: string[] = [];
  const q = JSON.stringify;
  if (!isVmDirName(m.vm_uuid)) out.push(`vm_uuid ${q(m.vm_uuid)} is not a VM id`);
  if (m.parent !== null && !isPointId(m.parent)) out.push(`parent ${q(m.parent)} is not a point id`);
  m.disks.forEach((d, i) => {
    if (!DISK_TARGET_RE.test(d.target)) out.push(`disks.${i}.target ${q(d.target)} is not a disk target (like 'vda')`);
    if (diskFileIndex(d.image, 'qcow2') !== d.index) out.push(`disks.${i}.image ${q(d.image)} is not 'disk-${d.index}/(full|incr)-<point id>.qcow2'`);
    if (diskFileIndex(d.sums, 'sums') !== d.index) out.push(`disks.${i}.sums ${q(d.sums)} is not 'disk-${d.index}/(full|incr)-<point id>.sums'`);
    if (d.backing !== null && diskFileIndex(d.backing, 'qcow2') !== d.index) out.push(`disks.${i}.backing ${q(d.backing)} is not 'disk-${d.index}/(full|incr)-<point id>.qcow2'`);
  });
  return out;
}

export function parseManifest(text: string, where: string): PointManifest {
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) { throw new ManifestError(`[repository] ${where}: not JSON`, { cause: e }); }
  const r = PointManifest.safeParse(json);
  if (!r.success) throw new ManifestError(`[repository] ${where}: not a valid point manifest: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const bad = manifestNameProblems(r.data);
  if (bad.length) throw new ManifestError(`[repository] ${where}: refusing a manifest with names outside the format: ${bad.join('; ')} ${FORMAT_HINT}`);
  return r.data;
}

export function parseMetadata(text: string, where: string): VmMetadata {
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) { throw new ManifestError(`[repository] ${where}: not JSON`, { cause: e }); }
  const r = VmMetadata.safeParse(json);
  if (!r.success) throw new ManifestError(`[repository] ${where}: not valid VM metadata: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const bad = [
    ...(isVmDirName(r.data.vm_uuid) ? [] : [`vm_uuid ${JSON.stringify(r.data.vm_uuid)} is not a VM id`]),
    ...r.data.disks.flatMap((d, i) => (DISK_TARGET_RE.test(d.target) ? [] : [`disks.${i}.target ${JSON.stringify(d.target)} is not a disk target (like 'vda')`])),
  ];
  if (bad.length) throw new ManifestError(`[repository] ${where}: refusing VM metadata with names outside the format: ${bad.join('; ')} ${FORMAT_HINT}`);
  return r.data;
}
