/**
 * Helpers for the retention tests: a restore of one disk of one point through its manifests
 * (every block checked against the point's digests, as `sendense-agent restore` reads it) into a
 * raw file, in process — the CLI costs seconds per call on a loaded machine.
 */
import { open } from 'node:fs/promises';
import type { BackupTarget } from '../../agent/target/port.ts';
import { Repository } from '../../agent/repository/repository.ts';
import { openPointChain, readVerified } from '../../agent/restore/chain-read.ts';

export async function restoreRaw(t: BackupTarget, vm: string, id: string, disk: string, to: string): Promise<void> {
  const c = await openPointChain(new Repository(t), vm, id, disk);
  const fh = await open(to, 'w');
  try {
    await fh.truncate(c.disk.virtual_size);
    await readVerified(c, async (off, data) => { await fh.write(data, 0, data.length, off); });
  } finally {
    await fh.close();
  }
}
