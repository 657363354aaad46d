/**
 * @layer port
 * BlockSource: a point-in-time disk the agent reads from — an NBD export of libvirt's pull-mode
 * backup, a qemu-nbd export of a stopped VM's disk, or an in-memory disk in tests.
 *
 * Contract (checked by blocksource/contract.ts against every adapter):
 * - `size` is the virtual size in bytes; reads and status queries past it reject with a
 *   BlockSourceError (code 'range').
 * - `read(offset, length)` resolves with exactly `length` bytes or rejects; it never returns a
 *   short buffer. Many reads may be in flight at once.
 * - `blockStatus(context, offset, length)` resolves with extents that start at `offset`, are
 *   contiguous, and together cover at least one byte and at most `length` bytes (a server may
 *   answer for a prefix: the caller continues from the end). Flags are the context's own:
 *   base:allocation bit 0 = hole, bit 1 = reads as zero; qemu:dirty-bitmap:* bit 0 = dirty.
 * - `contexts` lists the meta contexts the source can answer (e.g. 'base:allocation',
 *   'qemu:dirty-bitmap:backup-vda').
 * - Every method takes an optional AbortSignal and rejects with the signal's reason when aborted.
 * - `close()` is idempotent; calls after it reject with code 'closed'.
 */

export const BASE_ALLOCATION = 'base:allocation';
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
export const DIRTY = 1;

export interface Extent {
  offset: number;
  length: number;
  flags: number;
}

export interface BlockSource {
  readonly name: string;
  readonly size: number;
  readonly contexts: readonly string[];
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
  /**
   * Optional: read's twin that fills `dest` (dest.length bytes from offset) and resolves with it,
   * so a caller can reuse one large buffer (first-touching fresh memory costs page faults: on
   * the lab machine ~3.5 s per GiB, more than reading it over NBD). Same errors as read; once
   * the promise settles, the source no longer writes into dest.
   */
  readInto?(offset: number, dest: Buffer, signal?: AbortSignal): Promise<Buffer>;
  blockStatus(context: string, offset: number, length: number, signal?: AbortSignal): Promise<Extent[]>;
  close(): Promise<void>;
}

export type BlockSourceErrorCode = 'range' | 'closed' | 'protocol' | 'server' | 'disconnected' | 'unsupported' | 'connect';

export class BlockSourceError extends Error {
  override name = 'BlockSourceError';
  constructor(readonly code: BlockSourceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
