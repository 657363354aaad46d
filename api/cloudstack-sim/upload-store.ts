/**
 * @layer port
 * UploadStore: where the simulator's secondary storage keeps the images uploaded to the URL
 * getUploadParamsForVolume hands out (or fetched by uploadVolume), so tests can compare them.
 *
 * Contract: `put` consumes the whole stream and resolves with the byte count and where the image
 * is (a file path, or `memory:<volume id>`); a second `put` for the same volume replaces the
 * first; `get` returns the stored bytes or undefined; a failed stream rejects and stores nothing.
 */

export interface StoredImage {
  bytes: number;
  location: string;
}

export interface UploadStore {
  put(volumeId: string, format: string, data: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<StoredImage>;
  get(volumeId: string): Promise<Uint8Array | undefined>;
}

export class MemoryUploadStore implements UploadStore {
  readonly images = new Map<string, Uint8Array>();

  async put(volumeId: string, _format: string, data: ReadableStream<Uint8Array>): Promise<StoredImage> {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const c of data as unknown as AsyncIterable<Uint8Array>) { chunks.push(c); n += c.byteLength; }
    const all = new Uint8Array(n);
    let off = 0;
    for (const c of chunks) { all.set(c, off); off += c.byteLength; }
    this.images.set(volumeId, all);
    return { bytes: n, location: `memory:${volumeId}` };
  }

  async get(volumeId: string): Promise<Uint8Array | undefined> {
    return this.images.get(volumeId);
  }
}
