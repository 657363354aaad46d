/**
 * @layer logic
 * Formatting for people: placeholders, byte sizes, rates, durations and times (Intl, in the
 * browser's locale), so every view says sizes and ages the same way.
 */
export function fmt(template: string, values: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m));
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: i === 0 ? 0 : v < 10 ? 1 : 0 }).format(v)} ${UNITS[i]}`;
}

/** a duration in seconds as "1 h 4 min", "3 min 5 s", "12 s" */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

const rtf = () => new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "3 hours ago", "in 5 minutes" */
export function relative(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return '—';
  const diff = (new Date(iso).getTime() - now.getTime()) / 1000;
  const a = Math.abs(diff);
  const [v, u]: [number, Intl.RelativeTimeFormatUnit] = a < 60 ? [diff, 'second'] : a < 3600 ? [diff / 60, 'minute'] : a < 86_400 ? [diff / 3600, 'hour'] : [diff / 86_400, 'day'];
  return rtf().format(Math.round(v), u);
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

/** rate and time left of a running transfer, from what is done since it started */
export function transfer(done: number, total: number | null, startedAt: string | null, now: Date = new Date()): { rate: number; eta: number | null } {
  const elapsed = startedAt ? (now.getTime() - new Date(startedAt).getTime()) / 1000 : 0;
  const rate = elapsed > 0 ? done / elapsed : 0;
  const eta = total !== null && rate > 0 ? Math.max(0, (total - done) / rate) : null;
  return { rate, eta };
}
