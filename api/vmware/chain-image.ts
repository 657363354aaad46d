/**
 * @layer adapter
 * A point's disk as one standalone qcow2 image, for an upload to CloudStack: `qemu-img convert`
 * of the point's chain in a local-directory repository (the image names its backing files by
 * bare name, so qemu follows the chain) into a scratch file, checked against the point's
 * `.sums` block by block before it is handed out, streamed from there and removed on close().
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { run } from '../../agent/system/run.ts';
import type { UploadImage } from '../cloudstack/port.ts';

const BLOCK = 1 << 20;

/** Hashes the guest view of a qcow2 file in 1 MiB blocks through qemu-img's raw conversion and compares with sums. */
async function checkAgainstSums(file: string, sums: Buffer, scratch: string): Promise<void> {
  const raw = path.join(scratch, 'check.raw');
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', file, raw]);
  const fh = await open(raw, 'r');
  try {
    const buf = Buffer.alloc(BLOCK);
    for (let i = 0; i * 32 < sums.length; i++) {
      const { bytesRead } = await fh.read(buf, 0, BLOCK, i * BLOCK);
      const d = createHash('sha256').update(buf.subarray(0, bytesRead)).digest();
      if (!d.equals(sums.subarray(i * 32, i * 32 + 32))) throw new Error(`[vmware-restore] ${file}: block ${i} does not match the point's digest: the repository image is damaged; run verify`);
    }
  } finally {
    await fh.close();
    await rm(raw, { force: true });
  }
}

export function localChainImage(o: { repoRoot: string; vmId: string; disks: { target: string; image: string; sums: string }[]; workDir: string }) {
  return async (target: string): Promise<UploadImage & { close(): Promise<void> }> => {
    const d = o.disks.find((x) => x.target === target);
    if (!d) throw new Error(`[vmware-restore] the point has no disk ${target}`);
    const scratch = await mkdtemp(path.join(o.workDir, 'restore-'));
    const out = path.join(scratch, `${target}.qcow2`);
    const src = path.join(o.repoRoot, o.vmId, d.image);
    await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'qcow2', src, out]);
    const { readFile } = await import('node:fs/promises');
    await checkAgainstSums(out, await readFile(path.join(o.repoRoot, o.vmId, d.sums)), scratch);
    const size = (await stat(out)).size;
    return {
      filename: `${target}.qcow2`, size,
      data: Readable.toWeb(createReadStream(out)) as ReadableStream<Uint8Array>,
      close: () => rm(scratch, { recursive: true, force: true }),
    };
  };
}
