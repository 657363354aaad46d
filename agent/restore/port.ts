/**
 * @layer port
 * Where a restore writes: a local file (qcow2 or raw), or any sink the caller gives (a CloudStack
 * volume upload, a download stream). Nothing is visible under the final name until commit(),
 * which happens only after every block was verified; abort() leaves nothing behind.
 */
import type { ImageSink } from '../qcow2/port.ts';

export interface RestoreFile extends ImageSink {
  /** raw output: positioned writes anywhere below the size given to setSize */
  writeRaw(offset: number, data: Buffer, signal?: AbortSignal): Promise<void>;
  /** raw output: the file's final size (sparse) */
  setSize(size: number): Promise<void>;
  commit(signal?: AbortSignal): Promise<void>;
  abort(): Promise<void>;
}

/** What a local path is, as a restore needs to know it. */
export interface LocalFileInfo {
  kind: 'file' | 'block' | 'directory' | 'other';
  size: number;
  /** device and inode: the file's identity (a rename keeps it, a copy does not) */
  dev: number;
  ino: number;
  uid: number;
  gid: number;
  /** permission bits (0o777 and the special bits) */
  mode: number;
}

/**
 * LocalFiles: the agent host's file system as the restore modes use it — the volume swapped by an
 * in-place restore, scratch files for uploads, downloads and restore tests. Adapter:
 * local-files.ts (node:fs, qemu-img info, our qcow2 reader).
 *
 * Contract:
 * - create() gives a RestoreFile whose bytes appear under `path` only on commit (a partial name
 *   before), with the owner and mode asked for; abort() leaves nothing.
 * - content() yields the guest view of an image in order, in pieces of any size: raw = the bytes,
 *   qcow2 = what a guest reads (a standalone image: a backing file is refused).
 * - rename() is atomic within a directory and replaces nothing: an existing `to` rejects.
 * - syncDir() makes the renames and removals in a directory durable.
 */
export interface LocalFiles {
  stat(path: string): Promise<LocalFileInfo | undefined>;
  /** qemu-img's name of the image's format ('qcow2', 'raw', …) */
  format(path: string, signal?: AbortSignal): Promise<string>;
  create(path: string, opts?: { uid?: number; gid?: number; mode?: number }): Promise<RestoreFile>;
  /** the file's bytes as they are on disk */
  bytes(path: string, signal?: AbortSignal): AsyncIterable<Buffer>;
  /** the guest view of an image */
  content(path: string, format: 'qcow2' | 'raw', signal?: AbortSignal): AsyncIterable<Buffer>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  list(dir: string): Promise<string[]>;
  syncDir(dir: string): Promise<void>;
}

/** The free bytes of the file system a folder is on, for a writer that is not root (statfs bavail). */
export type FreeSpace = (dir: string) => Promise<number>;

/** One disk of one point as a byte stream of known length (a download, an upload body). */
export interface ImageStream {
  pointId: string;
  disk: string;
  format: 'qcow2' | 'raw';
  virtualSize: number;
  /** content_sha256 of the point's disk (the digest of its .sums) */
  contentSha256: string;
  chain: string[];
  /** bytes `body` yields, known before the first one */
  length: number;
  /**
   * the bytes; raw: every block checked against its digest as it is read, and a mismatch makes
   * the iterator throw (the consumer sees fewer than `length` bytes); qcow2: built and checked in
   * a scratch file before this stream exists
   */
  body: AsyncIterable<Buffer>;
  /** bytes of the chain read and verified so far */
  bytesRead(): number;
  /** removes the scratch file, if any; idempotent (call it whether or not body was consumed) */
  close(): Promise<void>;
}

/** The file part of a multipart/form-data POST: its bytes are streamed, its length known up front. */
export interface UploadFile {
  name: string;
  length: number;
  body: AsyncIterable<Buffer>;
}

/**
 * UploadPoster: POSTs one file as multipart/form-data (field `file`), streamed, with the caller's
 * headers (CloudStack's X-signature, X-metadata, X-expires). Resolves with a 2xx answer; rejects
 * with UploadError naming the HTTP status and the body's message otherwise, or when `file.body`
 * throws (the request is cut short: the server never sees a complete file).
 */
export interface UploadPoster {
  post(url: string, headers: Record<string, string>, file: UploadFile, signal?: AbortSignal): Promise<{ status: number; body: string; bytesSent: number }>;
}

export class UploadError extends Error {
  override name = 'UploadError';
  /** `status`: the HTTP status, when the server answered */
  constructor(message: string, readonly status?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}
