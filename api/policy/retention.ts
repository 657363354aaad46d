/**
 * @layer logic
 * Retention: which restore points of one VM (in one repository) a policy keeps, which it expires,
 * and which surviving points are merged forward into a new full because their parent expires.
 *
 * Any point may expire: the agent merges the survivors forward (agent/retention/plan.ts
 * `prunePlan`, the same function the agent carries out, so the preview and the prune agree), so
 * no surviving point is ever orphaned. In this order:
 *   1. a point is kept when any rule keeps it — the newest `keepLast`, the newest of each of the
 *      last `keepDaily` days (`keepWeekly` ISO weeks, `keepMonthly` months; UTC);
 *      with no keep rule at all, nothing expires by these rules (an empty policy deletes nothing);
 *   2. `maxAgeDays` drops every point older than that, whatever the rules above say;
 *   3. the VM's newest point is always kept: the next incremental builds on its checkpoint;
 *   4. `maxChainLength`: where the survivors of a chain (a full and the incrementals on it, after
 *      the expirations above) are more than the maximum, its oldest points expire and are merged
 *      forward into the first survivor — the chain is re-rooted and shortened.
 * The bytes freed are an estimate, a lower bound: a merged full is assumed to take the sizes of
 * the point and what it folds in down to the nearest full (capped at the disk's virtual size).
 */
import { prunePlan } from '../../agent/retention/plan.ts';
import type { RetentionRules } from '../../db/schema.ts';

export interface RetainablePoint {
  /** the repository's point id (YYYYMMDD-HHMMSS) */
  id: string;
  /** the point it builds on (null for a full) */
  parentId: string | null;
  /**
   * the parent the agent's manifest names, when it differs: a full may name the point before it,
   * and the agent's prune plan walks that (default: parentId)
   */
  agentParent?: string | null;
  createdAt: Date;
  /** bytes the point's files take (for the estimate; 0 when unknown) */
  sizeBytes?: number;
  /** the disks' virtual size (caps a merged full's estimate) */
  virtualSizeBytes?: number;
}

export interface RetentionOptions {
  rules: RetentionRules;
  /** the policy's maximum chain length, the full included */
  maxChainLength?: number;
  now: Date;
}

export interface RetentionMerge {
  /** the surviving point rewritten as a full */
  pointId: string;
  /** the expired points whose data it takes over, nearest first */
  from: string[];
}

export interface RetentionPlan {
  /** newest first */
  keep: string[];
  /** newest first */
  expire: string[];
  /** why each kept point is kept */
  reasons: Record<string, string[]>;
  /** why each expired point goes */
  expireReasons: Record<string, string>;
  /** survivors merged forward into a full, oldest first */
  merges: RetentionMerge[];
  /** estimated bytes the prune frees (a lower bound) */
  bytesFreedEstimate: number;
}

const DAY = 86_400_000;
const dayKey = (d: Date) => d.toISOString().slice(0, 10);
const monthKey = (d: Date) => d.toISOString().slice(0, 7);
function weekKey(d: Date): string {
  // ISO 8601 week: weeks start on Monday, the week's Thursday names its year
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  t.setUTCDate(t.getUTCDate() + 4 - (t.getUTCDay() || 7));
  const week = Math.ceil(((t.getTime() - Date.UTC(t.getUTCFullYear(), 0, 1)) / DAY + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const KEEP_RULES = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const;

export function retentionPlan(points: RetainablePoint[], opts: RetentionOptions): RetentionPlan {
  const { rules, now } = opts;
  const sorted = [...points].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id));
  const reasons: Record<string, string[]> = {};
  const expireReasons: Record<string, string> = {};
  const keep = (id: string, why: string) => { (reasons[id] ??= []).push(why); };

  if (KEEP_RULES.every((r) => rules[r] === undefined)) sorted.forEach((p) => keep(p.id, 'no keep rule'));
  sorted.slice(0, rules.keepLast ?? 0).forEach((p) => keep(p.id, 'last'));
  const buckets: [keyof RetentionRules, (d: Date) => string, string][] = [
    ['keepDaily', dayKey, 'daily'], ['keepWeekly', weekKey, 'weekly'], ['keepMonthly', monthKey, 'monthly'],
  ];
  for (const [rule, key, name] of buckets) {
    const n = rules[rule] ?? 0;
    const seen = new Set<string>();
    for (const p of sorted) {
      if (seen.size >= n) break;
      const k = key(p.createdAt);
      if (seen.has(k)) continue;
      seen.add(k);
      keep(p.id, `${name} ${k}`);
    }
  }
  for (const p of sorted) if (!reasons[p.id]) expireReasons[p.id] = 'kept by no rule';
  if (rules.maxAgeDays !== undefined) {
    for (const p of sorted) {
      if (now.getTime() - p.createdAt.getTime() <= rules.maxAgeDays * DAY) continue;
      delete reasons[p.id];
      expireReasons[p.id] = `older than ${rules.maxAgeDays} days`;
    }
  }
  if (sorted[0] && !reasons[sorted[0].id]) {
    delete expireReasons[sorted[0].id];
    keep(sorted[0].id, 'newest: the next backup builds on it');
  }
  if (opts.maxChainLength !== undefined) trimChains(sorted, opts.maxChainLength, reasons, expireReasons);

  const expire = sorted.filter((p) => !reasons[p.id]).map((p) => p.id);
  const byId = new Map(points.map((p) => [p.id, p]));
  const merges = expire.length ? prunePlan(points.map((p) => ({ id: p.id, parent: p.agentParent !== undefined ? p.agentParent : p.parentId })), expire).merges : [];
  merges.sort((a, b) => byId.get(a.pointId)!.createdAt.getTime() - byId.get(b.pointId)!.createdAt.getTime());
  const size = (id: string) => byId.get(id)?.sizeBytes ?? 0;
  let bytes = expire.reduce((a, id) => a + size(id), 0);
  for (const m of merges) {
    const p = byId.get(m.pointId)!;
    // the new full holds the point and what it folds in down to the nearest full (older data is overwritten by it)
    const fullAt = m.from.findIndex((id) => byId.get(id)?.parentId === null);
    const folded = size(m.pointId) + m.from.slice(0, fullAt < 0 ? undefined : fullAt + 1).reduce((a, id) => a + size(id), 0);
    bytes -= Math.min(p.virtualSizeBytes || folded, folded) - size(m.pointId);
  }
  return {
    keep: sorted.filter((p) => reasons[p.id]).map((p) => p.id),
    expire,
    reasons,
    expireReasons,
    merges: merges.map((m) => ({ pointId: m.pointId, from: m.from })),
    bytesFreedEstimate: Math.max(0, bytes),
  };
}

/** Chains (of the survivors) longer than `max`: their oldest survivors expire (newest first in, `sorted`). */
function trimChains(sorted: RetainablePoint[], max: number, reasons: Record<string, string[]>, expireReasons: Record<string, string>): void {
  const limit = Math.max(1, max);
  const byId = new Map(sorted.map((p) => [p.id, p]));
  const rootOf = (p: RetainablePoint): string => {
    let r = p;
    while (r.parentId && reasons[r.parentId] && byId.has(r.parentId)) r = byId.get(r.parentId)!;
    return r.id;
  };
  const segments = new Map<string, RetainablePoint[]>();
  for (const p of sorted) {
    if (!reasons[p.id]) continue;
    const root = rootOf(p);
    segments.set(root, [...(segments.get(root) ?? []), p]);
  }
  for (const seg of segments.values()) {
    // seg is newest first: everything past the first `limit` is the chain's oldest part
    for (const p of seg.slice(limit)) {
      delete reasons[p.id];
      expireReasons[p.id] = `its chain holds ${seg.length} points, the policy's maximum is ${limit}: merged forward`;
    }
  }
}
