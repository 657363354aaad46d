/**
 * @layer logic
 * Small value formats VMware descriptors use: DMTF programmatic units ("byte * 2^30",
 * "MegaBytes"), VMware's spaced UUIDs ("56 4d … 2b-97 …") and MAC addresses.
 */

const NAMED: Record<string, number> = {
  byte: 0, bytes: 0, kilobytes: 10, kilobyte: 10, kb: 10, megabytes: 20, megabyte: 20, mb: 20, gigabytes: 30, gigabyte: 30, gb: 30, terabytes: 40, tb: 40,
};

/** Bytes per unit of a DMTF allocation unit ("byte * 2^20", "byte*1024", "MegaBytes"); undefined when not understood. */
export function unitBytes(unit: string | undefined): number | undefined {
  if (unit === undefined || unit.trim() === '') return 1;
  const u = unit.replace(/\s+/g, '').toLowerCase();
  if (u in NAMED) return 2 ** NAMED[u];
  const m = /^bytes?((?:\*\d+(?:\^\d+)?)*)$/.exec(u);
  if (!m) return undefined;
  let n = 1;
  for (const f of m[1].split('*').filter(Boolean)) {
    const [b, e] = f.split('^');
    n *= Number(b) ** (e === undefined ? 1 : Number(e));
  }
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A UUID in the usual 8-4-4-4-12 form, lower case, from VMware's "56 4d 5e …-… " or a plain one. */
export function normalizeUuid(s: string | undefined): string | null {
  if (!s) return null;
  const hex = s.replace(/[\s-]/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function normalizeMac(s: string | undefined): string | null {
  if (!s) return null;
  const m = s.trim().toLowerCase().replace(/-/g, ':');
  return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m) ? m : null;
}
