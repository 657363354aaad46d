/**
 * @layer logic
 * The tar headers of an OVA (DSP0243 §5.3: a POSIX ustar archive, the descriptor first). Pure
 * header parsing for a streaming reader: 512-byte records, name (with the ustar prefix), size
 * (octal, or GNU base-256), type flag and the header checksum. Two zero records end the archive.
 */
export const TAR_BLOCK = 512;

export type TarHeader =
  | { kind: 'end' }
  | { kind: 'entry'; name: string; size: number; type: string };

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.subarray(0, z < 0 ? len : z).toString('utf8');
}

function octal(b: Buffer, off: number, len: number): number {
  if (b[off] & 0x80) {
    // GNU base-256 for sizes ≥ 8 GiB
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + b[i];
    return n;
  }
  const s = cstr(b, off, len).trim();
  if (!/^[0-7]*$/.test(s)) return Number.NaN;
  return s ? Number.parseInt(s, 8) : 0;
}

/** Parses one 512-byte header record; throws with `why` on a damaged one. */
export function parseTarHeader(rec: Buffer): TarHeader | { kind: 'bad'; why: string } {
  if (rec.length !== TAR_BLOCK) return { kind: 'bad', why: `a tar header of ${rec.length} bytes (cut short)` };
  if (rec.every((x) => x === 0)) return { kind: 'end' };
  const stored = octal(rec, 148, 8);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : rec[i];
  if (stored !== sum) return { kind: 'bad', why: `a tar header checksum is ${stored}, the header sums to ${sum} (not a tar archive, or damaged)` };
  const size = octal(rec, 124, 12);
  if (!Number.isSafeInteger(size) || size < 0) return { kind: 'bad', why: 'a tar header with an unreadable size' };
  const magic = cstr(rec, 257, 6);
  const prefix = magic.startsWith('ustar') ? cstr(rec, 345, 155) : '';
  const name = (prefix ? `${prefix}/` : '') + cstr(rec, 0, 100);
  return { kind: 'entry', name, size, type: String.fromCharCode(rec[156] || 48) };
}

/** Bytes of data records an entry of `size` bytes takes (rounded up to 512). */
export function paddedSize(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}
