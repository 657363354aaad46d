/**
 * @layer adapter
 * qemu-img for images no QEMU runs: `info --output=json` (bitmaps with their flags) and
 * `bitmap --add/--remove`. Opening without -U takes the image lock, so an image a running VM
 * holds is reported as 'busy' rather than read in a half-flushed state.
 */
import { CommandError, run } from '../system/run.ts';
import { parseImageInfo, type ImageInfo } from './bitmap-info.ts';
import { classifyLibvirtError } from './libvirt-errors.ts';
import { HypervisorError } from './port.ts';

function fail(what: string, image: string, e: unknown): never {
  if (e instanceof CommandError) {
    const code = classifyLibvirtError(e.stderr);
    const hint = code === 'busy' ? ': a running VM or another process holds it' : '';
    throw new HypervisorError(code === 'libvirt' ? 'qemu' : code, `[hypervisor] [qemu-img] ${what} ${image}${hint}: ${e.stderr.trim().split('\n').pop()}`, { cause: e });
  }
  throw new HypervisorError('qemu', `[hypervisor] [qemu-img] ${what} ${image}: ${(e as Error).message}`, { cause: e });
}

export async function imageInfo(image: string, format?: string, signal?: AbortSignal): Promise<ImageInfo> {
  try {
    const r = await run('qemu-img', ['info', '--output=json', ...(format ? ['-f', format] : []), image], { signal, timeoutMs: 60_000 });
    return parseImageInfo(r.stdout);
  } catch (e) {
    if (e instanceof CommandError && /No such file|Could not open.*No such/i.test(e.stderr)) {
      throw new HypervisorError('not-found', `[hypervisor] [qemu-img] no image ${image}`, { cause: e });
    }
    return fail('info', image, e);
  }
}

export async function bitmapOp(op: '--add' | '--remove', image: string, name: string, signal?: AbortSignal): Promise<void> {
  try {
    await run('qemu-img', ['bitmap', op, '-f', 'qcow2', image, name], { signal, timeoutMs: 60_000 });
  } catch (e) {
    fail(`bitmap ${op} ${name} on`, image, e);
  }
}
