/**
 * @layer adapter
 * Opens a VMDK for the importer: `qemu-nbd -r -f vmdk` on a unix socket in a scratch folder (qemu
 * reads every VMDK subformat: streamOptimized, monolithicSparse, monolithicFlat, snapshot deltas
 * through parentFileNameHint, and a VMDK inside an OVA through a raw offset/size layer), read by
 * the agent's own NBD client. close() ends the client, then qemu-nbd.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BASE_ALLOCATION, type BlockSource } from '../blocksource/port.ts';
import { openNbdPool } from '../nbd/pool.ts';
import { startQemuNbd } from '../nbd/qemu-nbd.ts';
import type { OpenVmwareDisk } from './port.ts';

export function qemuVmdkOpener(workDir: string): OpenVmwareDisk {
  return async (qemuImage, signal) => {
    const dir = mkdtempSync(path.join(workDir, 'vmdk-'));
    const server = await startQemuNbd({ image: qemuImage, format: 'vmdk', socket: path.join(dir, 'nbd.sock'), signal })
      .catch((e: unknown) => { rmSync(dir, { recursive: true, force: true }); throw e; });
    let src: BlockSource;
    try {
      src = await openNbdPool({ uri: server.uri, contexts: [BASE_ALLOCATION], connections: 4, signal });
    } catch (e) {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    let closing: Promise<void> | undefined;
    return {
      name: src.name, size: src.size, contexts: src.contexts,
      read: (o, l, s) => src.read(o, l, s),
      readInto: src.readInto ? (o, d, s) => src.readInto!(o, d, s) : undefined,
      blockStatus: (c, o, l, s) => src.blockStatus(c, o, l, s),
      close: () => (closing ??= (async () => {
        await src.close().catch(() => {});
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      })()),
    };
  };
}
