/**
 * @layer port
 * Walking a BlockSource's extents over a range: blockStatus may answer for a prefix only, so
 * the walk asks again from where each answer ends, in requests of at most `chunk` bytes
 * (1 GiB by default, so a large disk's status comes in a few bounded replies). Every answer is
 * checked against the port's contract (starts where asked, contiguous, 1..length bytes).
 */
import { BlockSourceError, type BlockSource, type Extent } from './port.ts';

export interface WalkOptions {
  signal?: AbortSignal;
  /** the most bytes asked for in one blockStatus call (default 1 GiB) */
  chunk?: number;
}

export const DEFAULT_STATUS_CHUNK = 1 << 30;

/** Checks one blockStatus answer for [offset, offset+length) against the port contract. */
export function checkAnswer(where: string, offset: number, length: number, extents: readonly Extent[]): number {
  let at = offset;
  for (const e of extents) {
    if (e.offset !== at || !(e.length > 0) || !Number.isInteger(e.flags)) {
      throw new BlockSourceError('protocol', `[blocksource] ${where}: extent ${JSON.stringify(e)} breaks contiguity at ${at} (asked ${length} bytes at ${offset})`);
    }
    at += e.length;
  }
  if (at === offset || at > offset + length) {
    throw new BlockSourceError('protocol', `[blocksource] ${where}: answer covers ${at - offset} bytes of ${length} asked at ${offset}`);
  }
  return at;
}

/** Yields each blockStatus answer (an array of extents) until [offset, offset+length) is covered. */
export async function* walkExtents(
  source: Pick<BlockSource, 'name' | 'blockStatus'>, context: string, offset: number, length: number, o: WalkOptions = {},
): AsyncGenerator<Extent[]> {
  const end = offset + length;
  const chunk = o.chunk ?? DEFAULT_STATUS_CHUNK;
  for (let at = offset; at < end;) {
    const ask = Math.min(chunk, end - at);
    const got = await source.blockStatus(context, at, ask, o.signal);
    at = checkAnswer(`${source.name} ${context}`, at, ask, got);
    yield got;
  }
}

/** The parts of `extents` inside [start, end). */
export function clipExtents(extents: Iterable<Extent>, start: number, end: number): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    const a = Math.max(e.offset, start);
    const b = Math.min(e.offset + e.length, end);
    if (b > a) out.push({ offset: a, length: b - a, flags: e.flags });
  }
  return out;
}

/** Adjacent extents with equal flags joined into one. */
export function mergeExtents(extents: Iterable<Extent>): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    const last = out[out.length - 1];
    if (last && last.flags === e.flags && last.offset + last.length === e.offset) last.length += e.length;
    else out.push({ ...e });
  }
  return out;
}

/** All extents of `context` over the range, merged. */
export async function collectExtents(
  source: Pick<BlockSource, 'name' | 'blockStatus'>, context: string, offset: number, length: number, o: WalkOptions = {},
): Promise<Extent[]> {
  const all: Extent[] = [];
  for await (const part of walkExtents(source, context, offset, length, o)) all.push(...part);
  return mergeExtents(all);
}
