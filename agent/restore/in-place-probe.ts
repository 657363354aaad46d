/**
 * @layer port
 * VolumeProbe: is a volume file open for writing by a process right now — a VM started on this
 * host, or on another host over NFS, by the user, by HA or by CloudStack? Asked by the in-place
 * restore right before its swap (in-place.ts): the domain list only knows this host's libvirt,
 * the image's lock knows every QEMU that has it open (QEMU locks its images with OFD locks, which
 * NFSv4 carries between hosts). The real one asks qemu-img (in-place-probe-qemu.ts).
 *
 * Contract: `holder(path)` resolves with a sentence saying who holds the file (for the error),
 * or undefined when nothing holds it; it rejects only when the file cannot be probed at all.
 */
export interface VolumeProbe {
  holder(path: string, signal?: AbortSignal): Promise<string | undefined>;
}

/** In memory: the paths set as held answer so (tests hold one to play a VM started mid-restore). */
export class MemoryVolumeProbe implements VolumeProbe {
  readonly held = new Map<string, string>();

  hold(path: string, by = 'a test'): void {
    this.held.set(path, by);
  }

  release(path: string): void {
    this.held.delete(path);
  }

  async holder(path: string): Promise<string | undefined> {
    return this.held.get(path);
  }
}
