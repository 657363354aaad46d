/**
 * @layer logic
 * The policy editor's form: its fields as typed (strings), the problems of each as typed, and
 * the request body for the API (which checks again and has the last word).
 */
interface PolicyLike {
  name: string; description: string; schedule: string; timezone: string; fullEvery: number; maxChainLength: number;
  retention: { keepLast?: number; keepDaily?: number; keepWeekly?: number; keepMonthly?: number; maxAgeDays?: number };
  enabled: boolean; verifySchedule: string | null; verifyRestoreTest: boolean;
}

export interface PolicyForm {
  name: string; description: string; schedule: string; timezone: string; fullEvery: string; maxChainLength: string;
  keepLast: string; keepDaily: string; keepWeekly: string; keepMonthly: string; maxAgeDays: string;
  verifySchedule: string; verifyRestoreTest: boolean; enabled: boolean;
}

const RETENTION = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly', 'maxAgeDays'] as const;

export function policyForm(p?: PolicyLike): PolicyForm {
  const n = (x: number | undefined) => (x === undefined ? '' : String(x));
  return {
    name: p?.name ?? '', description: p?.description ?? '', schedule: p?.schedule ?? '0 2 * * *', timezone: p?.timezone ?? 'UTC',
    fullEvery: n(p?.fullEvery ?? 7), maxChainLength: n(p?.maxChainLength ?? 30),
    keepLast: n(p ? p.retention.keepLast : 14), keepDaily: n(p?.retention.keepDaily), keepWeekly: n(p?.retention.keepWeekly),
    keepMonthly: n(p?.retention.keepMonthly), maxAgeDays: n(p?.retention.maxAgeDays),
    verifySchedule: p?.verifySchedule ?? '', verifyRestoreTest: p?.verifyRestoreTest ?? false, enabled: p?.enabled ?? true,
  };
}

const cron = (s: string) => { const n = s.trim().split(/\s+/).length; return n === 5 || n === 6; };
const posInt = (s: string) => /^\d+$/.test(s.trim()) && Number(s) >= 1;

/** the problems of the whole form, or of one field */
export function policyProblems(f: PolicyForm, field?: keyof PolicyForm): string[] {
  const out: [keyof PolicyForm, string][] = [];
  if (!f.name.trim()) out.push(['name', 'a name is required']);
  if (!cron(f.schedule)) out.push(['schedule', 'a cron pattern has 5 or 6 fields, e.g. 0 2 * * *']);
  if (f.verifySchedule.trim() && !cron(f.verifySchedule)) out.push(['verifySchedule', 'a cron pattern has 5 or 6 fields']);
  if (!f.timezone.trim()) out.push(['timezone', 'a time zone is required, e.g. UTC']);
  for (const k of ['fullEvery', 'maxChainLength'] as const) if (!posInt(f[k])) out.push([k, 'a whole number of 1 or more']);
  for (const k of RETENTION) if (f[k].trim() && !posInt(f[k])) out.push([k, 'a whole number of 1 or more, or empty']);
  if (RETENTION.every((k) => !f[k].trim())) out.push(['keepLast', 'at least one retention rule']);
  return out.filter(([k]) => !field || k === field).map(([, m]) => m);
}

export function toPolicyBody(f: PolicyForm) {
  const retention: Partial<Record<(typeof RETENTION)[number], number>> = {};
  for (const k of RETENTION) if (f[k].trim()) retention[k] = Number(f[k]);
  return {
    name: f.name.trim(), description: f.description, schedule: f.schedule.trim(), timezone: f.timezone.trim(),
    fullEvery: Number(f.fullEvery), maxChainLength: Number(f.maxChainLength), retention,
    verifySchedule: f.verifySchedule.trim() || null, verifyRestoreTest: f.verifyRestoreTest, enabled: f.enabled,
  };
}
