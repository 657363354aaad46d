/**
 * @layer logic
 * Retention: which restore points a policy keeps. A point is kept when any rule keeps it —
 * the newest `keepLast`, the newest of each of the last `keepDaily` days (weeks, months; UTC) —
 * and never when it is older than `maxAgeDays`. Every point a kept point builds on is kept too
 * (an incremental is useless without its parents), so only whole chain tails are expired.
 */
import type { RetentionRules } from '../../db/schema.ts';

export interface RetainablePoint {
  id: string;
  parentId: string | null;
  createdAt: Date;
}

export interface RetentionPlan {
  keep: string[];
  expire: string[];
  /** why each kept point is kept */
  reasons: Record<string, string[]>;
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

export function retentionPlan(points: RetainablePoint[], rules: RetentionRules, now: Date): RetentionPlan {
  const sorted = [...points].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  const reasons: Record<string, string[]> = {};
  const keep = (id: string, why: string) => { (reasons[id] ??= []).push(why); };
  const tooOld = (p: RetainablePoint) => rules.maxAgeDays !== undefined && now.getTime() - p.createdAt.getTime() > rules.maxAgeDays * DAY;

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
  for (const p of sorted) if (reasons[p.id] && tooOld(p)) delete reasons[p.id];

  const byId = new Map(points.map((p) => [p.id, p]));
  for (const id of Object.keys(reasons)) {
    for (let p = byId.get(id); p?.parentId; p = byId.get(p.parentId)) {
      if (!byId.has(p.parentId)) break;
      if (!(reasons[p.parentId] ??= []).includes(`parent of ${id}`)) reasons[p.parentId].push(`parent of ${id}`);
    }
  }
  return {
    keep: sorted.filter((p) => reasons[p.id]).map((p) => p.id),
    expire: sorted.filter((p) => !reasons[p.id]).map((p) => p.id),
    reasons,
  };
}
