/**
 * @layer port
 * The sink a qcow2 image is streamed into: appends, plus one positioned write at the end for
 * the header (see docs/FORMAT.md, "Write order"). A target's StreamFile satisfies it.
 */
export interface ImageSink {
  readonly length: number;
  append(chunk: Buffer, signal?: AbortSignal): Promise<void>;
  writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void>;
}

/** Random access to an image file (local file, SFTP, memory), for the qcow2 reader. */
export interface RandomAccess {
  readonly size: number;
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
}
