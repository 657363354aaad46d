/**
 * @layer logic
 * The prune plan (docs/FORMAT.md "Retention"): given a VM's points (id and parent) and the points to
 * remove, which remaining points must first be merged forward — rewritten as a full with the same
 * content — because their parent goes away. Shared by the agent (which carries the plan out) and the
 * control plane (whose retention preview shows it), so both always say the same.
 *
 * A remaining point whose parent is removed becomes a full; its own descendants stay incrementals on
 * top of it (its content does not change, only how it is stored). `from` lists the removed points the
 * merge folds in, nearest first.
 */

export interface ChainPoint {
  id: string;
  parent: string | null;
}

export interface PointMerge {
  pointId: string;
  /** the removed ancestors whose data the new full takes over, nearest first */
  from: string[];
}

export interface PrunePlan {
  /** the points to delete, oldest first (after the merges are in place) */
  remove: string[];
  /** the remaining points to rewrite as fulls first, oldest first */
  merges: PointMerge[];
}

export class PrunePlanError extends Error {
  override name = 'PrunePlanError';
}

export function prunePlan(points: readonly ChainPoint[], remove: readonly string[]): PrunePlan {
  const byId = new Map(points.map((p) => [p.id, p]));
  const unknown = remove.filter((id) => !byId.has(id));
  if (unknown.length) throw new PrunePlanError(`[retention] no point ${unknown.join(', ')} in this VM's repository: list the points and try again`);
  const gone = new Set(remove);
  const order = [...points].sort((a, b) => a.id.localeCompare(b.id));
  const merges: PointMerge[] = [];
  for (const p of order) {
    if (gone.has(p.id) || !p.parent || !gone.has(p.parent)) continue;
    const from: string[] = [];
    for (let a = byId.get(p.parent); a && gone.has(a.id); a = a.parent ? byId.get(a.parent) : undefined) from.push(a.id);
    merges.push({ pointId: p.id, from });
  }
  return { remove: order.filter((p) => gone.has(p.id)).map((p) => p.id), merges };
}
