/**
 * @layer adapter
 * A stopped disk served read-only over NBD (Hypervisor.exportStopped): the one qemu-nbd launcher
 * (nbd/qemu-nbd.ts) on the socket the caller gives, export name '', the bitmap as
 * 'qemu:dirty-bitmap:<name>', several client connections; its failures as HypervisorErrors
 * whose code says what happened (a bitmap missing or inconsistent, the image busy).
 */
import { existsSync } from 'node:fs';
import { QemuNbdError, startQemuNbd } from '../nbd/qemu-nbd.ts';
import { classifyLibvirtError } from './libvirt-errors.ts';
import { HypervisorError, type HypervisorErrorCode, type StoppedExport } from './port.ts';

export interface ImageExportOptions {
  image: string;
  format: string;
  socketPath: string;
  bitmap?: string;
  /** simultaneous client connections; default 8 */
  connections?: number;
  signal?: AbortSignal;
}

function codeOf(log: string): HypervisorErrorCode {
  if (/inconsistent/i.test(log)) return 'bitmap-inconsistent';
  if (/Bitmap .* not found|Dirty bitmap .* not found/i.test(log)) return 'bitmap-missing';
  const code = classifyLibvirtError(log);
  return code === 'libvirt' ? 'qemu' : code;
}

export async function exportImage(o: ImageExportOptions): Promise<StoppedExport> {
  if (existsSync(o.socketPath)) {
    throw new HypervisorError('invalid', `[hypervisor] [qemu-nbd] ${o.socketPath} exists: use a socket path unique to this export`);
  }
  try {
    const server = await startQemuNbd({
      image: o.image, format: o.format, socket: o.socketPath, clients: o.connections ?? 8,
      ...(o.bitmap ? { bitmap: o.bitmap } : {}), ...(o.signal ? { signal: o.signal } : {}),
    });
    return {
      socketPath: o.socketPath,
      exportName: '',
      uri: server.uri,
      ...(o.bitmap ? { bitmapContext: `qemu:dirty-bitmap:${o.bitmap}` } : {}),
      stop: () => server.stop(),
    };
  } catch (e) {
    const log = e instanceof QemuNbdError ? e.log : '';
    const why = log.split('\n').pop() || (e as Error).message;
    throw new HypervisorError(codeOf(log), `[hypervisor] [qemu-nbd] exporting ${o.image}${o.bitmap ? ` with bitmap ${o.bitmap}` : ''}: ${why}`, { cause: e });
  }
}
