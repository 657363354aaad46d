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
