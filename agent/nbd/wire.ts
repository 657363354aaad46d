/**
 * @layer logic
 * Encoders and decoders for the NBD messages in constants.ts: plain buffers in and out, no I/O.
 * 64-bit fields are read as JavaScript numbers (exact below 2^53, far beyond any disk); a
 * larger value is refused as a protocol violation by the caller via WireError.
 */
import {
  CHUNK, IHAVEOPT, INFO, OPTION_HEADER, REQUEST_MAGIC, REQUEST_SIZE,
} from './constants.ts';

/** A malformed message; the connection turns it into a 'protocol' error. */
export class WireError extends Error {
  override name = 'WireError';
}

const TWO32 = 0x1_0000_0000;

export function readU64(b: Buffer, at: number): number {
  const hi = b.readUInt32BE(at);
  if (hi >= 0x200000) throw new WireError(`[nbd] 64-bit value too large at byte ${at}`);
  return hi * TWO32 + b.readUInt32BE(at + 4);
}

export function writeU64(b: Buffer, v: number, at: number): void {
  b.writeUInt32BE(Math.floor(v / TWO32), at);
  b.writeUInt32BE(v >>> 0, at + 4);
}

function lenPrefixed(strings: readonly string[], countBytes: 0 | 4): Buffer[] {
  const parts: Buffer[] = [];
  if (countBytes) {
    const n = Buffer.allocUnsafe(4);
    n.writeUInt32BE(strings.length);
    parts.push(n);
  }
  for (const s of strings) {
    const b = Buffer.from(s, 'utf8');
    const l = Buffer.allocUnsafe(4);
    l.writeUInt32BE(b.length);
    parts.push(l, b);
  }
  return parts;
}

export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.allocUnsafe(OPTION_HEADER);
  h.writeBigUInt64BE(IHAVEOPT, 0);
  h.writeUInt32BE(option, 8);
  h.writeUInt32BE(data.length, 12);
  return Buffer.concat([h, data]);
}

/** Data of NBD_OPT_GO / NBD_OPT_INFO: export name and the info types asked for. */
export function encodeInfoRequest(exportName: string, infos: readonly number[]): Buffer {
  const tail = Buffer.allocUnsafe(2 + 2 * infos.length);
  tail.writeUInt16BE(infos.length, 0);
  infos.forEach((t, i) => tail.writeUInt16BE(t, 2 + 2 * i));
  return Buffer.concat([...lenPrefixed([exportName], 0), tail]);
}

/** Data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT. */
export function encodeMetaContextQuery(exportName: string, queries: readonly string[]): Buffer {
  return Buffer.concat([...lenPrefixed([exportName], 0), ...lenPrefixed(queries, 4)]);
}

export interface OptionReplyHeader {
  magic: bigint;
  option: number;
  type: number;
  length: number;
}

export function decodeOptionReplyHeader(b: Buffer): OptionReplyHeader {
  return { magic: b.readBigUInt64BE(0), option: b.readUInt32BE(8), type: b.readUInt32BE(12), length: b.readUInt32BE(16) };
}

export type ExportInfoPart =
  | { type: 'export'; size: number; flags: number }
  | { type: 'block-size'; minimum: number; preferred: number; maximum: number }
  | { type: 'name'; name: string }
  | { type: 'description'; description: string }
  | { type: 'other'; info: number };

export function decodeInfo(p: Buffer): ExportInfoPart {
  if (p.length < 2) throw new WireError(`[nbd] NBD_REP_INFO of ${p.length} bytes`);
  const t = p.readUInt16BE(0);
  const need = (n: number) => {
    if (p.length !== n) throw new WireError(`[nbd] NBD_REP_INFO type ${t}: ${p.length} bytes, want ${n}`);
  };
  switch (t) {
    case INFO.EXPORT:
      need(12);
      return { type: 'export', size: readU64(p, 2), flags: p.readUInt16BE(10) };
    case INFO.BLOCK_SIZE:
      need(14);
      return { type: 'block-size', minimum: p.readUInt32BE(2), preferred: p.readUInt32BE(6), maximum: p.readUInt32BE(10) };
    case INFO.NAME:
      return { type: 'name', name: p.toString('utf8', 2) };
    case INFO.DESCRIPTION:
      return { type: 'description', description: p.toString('utf8', 2) };
    default:
      return { type: 'other', info: t };
  }
}

export function decodeMetaContext(p: Buffer): { id: number; name: string } {
  if (p.length < 4) throw new WireError(`[nbd] NBD_REP_META_CONTEXT of ${p.length} bytes`);
  return { id: p.readUInt32BE(0), name: p.toString('utf8', 4) };
}

export function encodeRequest(type: number, flags: number, cookie: number, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(REQUEST_SIZE);
  b.writeUInt32BE(REQUEST_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  writeU64(b, cookie, 8);
  writeU64(b, offset, 16);
  b.writeUInt32BE(length, 24);
  return b;
}

export interface ErrorChunk {
  errno: number;
  message: string;
  offset?: number;
}

export function decodeErrorChunk(type: number, p: Buffer): ErrorChunk {
  if (p.length < 6) throw new WireError(`[nbd] error chunk of ${p.length} bytes`);
  const errno = p.readUInt32BE(0);
  const mlen = p.readUInt16BE(4);
  if (6 + mlen > p.length) throw new WireError(`[nbd] error chunk message of ${mlen} bytes in ${p.length}`);
  const message = p.toString('utf8', 6, 6 + mlen);
  if (type === CHUNK.ERROR_OFFSET) {
    if (p.length !== 6 + mlen + 8) throw new WireError(`[nbd] NBD_REPLY_TYPE_ERROR_OFFSET of ${p.length} bytes`);
    return { errno, message, offset: readU64(p, 6 + mlen) };
  }
  return { errno, message };
}

/** A BLOCK_STATUS chunk: the context id and (length, flags) descriptors in order. */
export function decodeBlockStatus(p: Buffer): { contextId: number; lengths: number[]; flags: number[] } {
  if (p.length < 12 || (p.length - 4) % 8 !== 0) throw new WireError(`[nbd] NBD_REPLY_TYPE_BLOCK_STATUS of ${p.length} bytes`);
  const n = (p.length - 4) / 8;
  const lengths = new Array<number>(n);
  const flags = new Array<number>(n);
  for (let i = 0, at = 4; i < n; i++, at += 8) {
    lengths[i] = p.readUInt32BE(at);
    flags[i] = p.readUInt32BE(at + 4);
    if (lengths[i] === 0) throw new WireError('[nbd] block status descriptor of length 0');
  }
  return { contextId: p.readUInt32BE(0), lengths, flags };
}
