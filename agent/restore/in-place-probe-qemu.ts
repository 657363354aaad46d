/**
 * @layer adapter
 * The VolumeProbe (in-place-probe.ts) on qemu-img: `qemu-img info` without `-U` opens the image
 * asking for QEMU's image locks, which fails with 'Failed to get shared "write" lock' while a QEMU
 * process (a running VM, qemu-nbd, qemu-img) has it open for writing — on this host, or on another
 * one when the file is on NFS. Any other failure of qemu-img is not a holder: it rejects.
 */
import { CommandError, run } from '../system/run.ts';
import type { VolumeProbe } from './in-place-probe.ts';

const LOCKED = /Failed to get (shared )?"(write|consistent read)" lock|Is another process using the image/;

export class QemuImgVolumeProbe implements VolumeProbe {
  async holder(path: string, signal?: AbortSignal): Promise<string | undefined> {
    try {
      await run('qemu-img', ['info', '--output=json', path], { signal });
      return undefined;
    } catch (e) {
      const text = e instanceof CommandError ? `${e.stderr ?? ''} ${e.message}` : String(e);
      if (LOCKED.test(text)) return `a process holds its image lock (qemu-img: ${text.trim().split('\n')[0].replace(/^.*?qemu-img: /, '')})`;
      throw e;
    }
  }
}
