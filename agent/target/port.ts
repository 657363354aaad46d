/**
 * @layer port
 * BackupTarget: where a repository lives — a local directory, a directory on a repository host
 * reached over SSH (ssh2; the host needs only sshd and coreutils), or memory in tests.
 * Paths are POSIX paths relative to the target's root; they never contain '..'.
 *
 * Contract (checked by target/contract.ts against every adapter):
 * - `create(path)` opens a new file for a sequential stream: `append` writes at the end,
 *   `writeAt` patches bytes already written (used once, for a qcow2 header), `commit` flushes the
 *   data to stable storage (fsync) and closes; `abort` closes and deletes it. A file being
 *   written is never visible under another name; nothing but `rename` makes it a restore point.
 * - `rename(from, to)` is atomic and replaces `to`; `writeFileAtomic` writes a temporary file,
 *   fsyncs it and renames it over `path` (manifests, metadata.json).
 * - `readFile` of a missing path rejects with code 'not-found'; `list` of a missing dir returns [].
 * - `read(path, offset, length)` returns exactly `length` bytes or rejects ('range' past the end);
 *   `readStream` yields the same bytes as a stream of chunks (for long sequential reads).
 * - A full file system rejects with code 'no-space'; a dropped connection with 'disconnected';
 *   a host key that does not match the pinned one with 'host-key'. Nothing half-written stays
 *   under its final name.
 * - Every long call takes an AbortSignal.
 * Further rules that contract.ts pins down for every adapter:
 * - No call makes parent directories (mkdirp first): a missing one rejects with 'not-found'.
 * - `create` is exclusive ('exists'); `remove` takes a file or a whole tree, and a missing path
 *   is fine; the root itself and paths with '..' reject with 'config'.
 * - An aborted signal rejects the call with the signal's reason.
 * - What the target makes is private to its owner (repositories hold every tenant's disks):
 *   files 0600, directories 0700, whatever the process umask; `stat` reports the mode bits.
 */

export interface TargetStat {
  size: number;
  mtimeMs: number;
  isDirectory: boolean;
  /** permission bits (e.g. 0o600) */
  mode: number;
}

export interface TargetEntry {
  name: string;
  isDirectory: boolean;
  size: number;
}

export interface StreamFile {
  readonly path: string;
  /** bytes appended so far */
  readonly length: number;
  /**
   * Resolves when the target no longer reads `chunk` (it was written, copied, or encrypted into
   * a packet): from then on the caller owns the buffer again and may reuse it. Until then the
   * caller must not change it. After a rejection the buffer is the caller's too (the file is
   * unusable: nothing more is sent from it).
   */
  append(chunk: Buffer, signal?: AbortSignal): Promise<void>;
  writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void>;
  commit(signal?: AbortSignal): Promise<void>;
  /** after a successful commit, a no-op (safe in a finally block) */
  abort(): Promise<void>;
}

export interface BackupTarget {
  /** e.g. '/srv/backups' or 'ssh://user@host:22/srv/backups', for messages and records */
  readonly url: string;
  mkdirp(path: string, signal?: AbortSignal): Promise<void>;
  list(dir: string, signal?: AbortSignal): Promise<TargetEntry[]>;
  stat(path: string, signal?: AbortSignal): Promise<TargetStat | undefined>;
  readFile(path: string, signal?: AbortSignal): Promise<Buffer>;
  read(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
  /**
   * `length` bytes from `offset` as a sequential stream of chunks in order (over SSH one `dd` on
   * one channel: no round trip per range). Throws 'range' when the file ends first, 'not-found'
   * when it is missing; breaking off the iteration stops the transfer.
   */
  readStream(path: string, offset: number, length: number, signal?: AbortSignal): AsyncIterable<Buffer>;
  writeFileAtomic(path: string, data: Buffer | string, signal?: AbortSignal): Promise<void>;
  create(path: string, signal?: AbortSignal): Promise<StreamFile>;
  rename(from: string, to: string, signal?: AbortSignal): Promise<void>;
  remove(path: string, signal?: AbortSignal): Promise<void>;
  /** bytes available to the repository's file system */
  freeSpace(path: string, signal?: AbortSignal): Promise<number>;
  /** the absolute path of a repository path on the host where the target lives (for qemu-img there) */
  hostPath(path: string): string;
  close(): Promise<void>;
}

export type TargetErrorCode = 'not-found' | 'exists' | 'no-space' | 'disconnected' | 'host-key' | 'auth' | 'permission' | 'range' | 'io' | 'config';

export class TargetError extends Error {
  override name = 'TargetError';
  constructor(readonly code: TargetErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
