/**
 * @layer logic
 * The retention intent record (docs/FORMAT.md, "Retention"): `<vm>/retention/<op>.json`, written
 * before a prune changes anything and replaced atomically at each step, so the next run can finish
 * or undo the prune after a crash. Also the pure rewrite of a merged point's manifest.
 */
import { z } from 'zod';
import { PointManifest, type PointDisk } from './manifest.ts';
import { vmDir } from './layout.ts';

const Sha = z.string().regex(/^[0-9a-f]{64}$/);

export const IntentDisk = z.object({
  index: z.number().int().nonnegative(),
  /** the point's image, e.g. disk-0/incr-<P>.qcow2: the new full takes this name */
  image: z.string(),
  /** where the new full is written first, relative to the VM folder */
  partial: z.string(),
  /** the new image's, once written */
  file_size: z.number().int().nonnegative().optional(),
  file_sha256: z.object({ header: Sha, body: Sha }).optional(),
  data_clusters: z.number().int().nonnegative().optional(),
  zero_clusters: z.number().int().nonnegative().optional(),
});
export type IntentDisk = z.infer<typeof IntentDisk>;

export const IntentMerge = z.object({
  point: z.string(),
  from: z.array(z.string()),
  state: z.enum(['planned', 'written', 'switched']),
  /** only the disks that were incremental: a full disk keeps its image */
  disks: z.array(IntentDisk),
});
export type IntentMerge = z.infer<typeof IntentMerge>;

export const RetentionIntent = z.object({
  format: z.literal('sendense-retention-op'),
  version: z.literal(1),
  op: z.string().regex(/^prune-[0-9a-f]+$/),
  vm_uuid: z.string(),
  created_at: z.string(),
  remove: z.array(z.string()),
  merges: z.array(IntentMerge),
});
export type RetentionIntent = z.infer<typeof RetentionIntent>;

export const retentionDir = (vm: string) => `${vmDir(vm)}/retention`;
export const intentPath = (vm: string, op: string) => `${retentionDir(vm)}/${op}.json`;

export function parseIntent(text: string, where: string): RetentionIntent {
  let json: unknown;
  try { json = JSON.parse(text); } catch (e) { throw new Error(`[retention] ${where}: not JSON`, { cause: e }); }
  const r = RetentionIntent.safeParse(json);
  if (!r.success) throw new Error(`[retention] ${where}: not a retention record: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** Whether the manifest is already the result of this merge (step 5 done). */
export function isSwitched(p: PointManifest, op: string): boolean {
  const m = (p as { merged?: { op?: unknown } }).merged;
  return p.parent === null && p.type === 'full' && m?.op === op;
}

/**
 * The manifest of a merged point: a full with the same content (id, checkpoint, sums,
 * content_sha256 kept), its rewritten disks taking the new image's size and digests, the old
 * values kept under `merged.previous`.
 */
export function mergedManifest(p: PointManifest, m: IntentMerge, op: string, at: Date): PointManifest {
  const previous = p.disks.map((d) => ({ index: d.index, type: d.type, backing: d.backing, file_size: d.file_size, file_sha256: d.file_sha256, data_clusters: d.data_clusters, zero_clusters: d.zero_clusters }));
  const disks: PointDisk[] = p.disks.map((d) => {
    const n = m.disks.find((x) => x.index === d.index);
    if (!n) return { ...d, type: 'full', backing: null };
    if (!n.file_sha256 || n.file_size === undefined) throw new Error(`[retention] merge of ${p.id} disk ${d.index}: the new image was not recorded`);
    return {
      ...d, type: 'full', backing: null, reason: `merged forward: ${m.from.join(', ')} removed`,
      file_size: n.file_size, file_sha256: n.file_sha256, data_clusters: n.data_clusters ?? d.data_clusters, zero_clusters: n.zero_clusters ?? d.zero_clusters,
    };
  });
  const merged = { op, from: m.from, at: at.toISOString(), previous_parent: p.parent, previous_type: p.type, previous };
  return PointManifest.parse({ ...p, type: 'full', parent: null, reason: `${p.reason}; merged forward into a full (${m.from.join(', ')} removed)`, disks, merged });
}
