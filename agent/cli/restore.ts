/**
 * @layer entry
 * `sendense-agent restore`: one disk of one point to a local qcow2 or raw file, verified.
 */
import { restoreDisk } from '../restore/restore.ts';
import { LocalRestoreFile } from '../restore/local-file.ts';
import { oneOf, parse } from './args.ts';
import { openRepoTarget, withSignals } from './deps.ts';
import { human, progressBar } from './progress.ts';

export async function restoreCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    repo: { type: 'string' }, 'vm-id': { type: 'string' }, disk: { type: 'string' }, point: { type: 'string' },
    to: { type: 'string' }, format: { type: 'string' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' },
    json: { type: 'boolean' }, overwrite: { type: 'boolean' },
  }, ['repo', 'vm-id', 'disk', 'to']);
  const format = oneOf('format', o.format, ['qcow2', 'raw'] as const, 'qcow2');
  return withSignals(async (signal) => {
    const target = await openRepoTarget(o.repo!, { identity: o.identity, knownHosts: o['known-hosts'], signal });
    const bar = o.json ? undefined : progressBar(`restore ${o.disk}`);
    try {
      const out = await LocalRestoreFile.create(o.to!, { overwrite: o.overwrite });
      const r = await restoreDisk(target, out, {
        vm: o['vm-id']!, disk: o.disk!, point: o.point, format, signal, onProgress: (d, t) => bar?.update(d, t),
      });
      bar?.end();
      if (o.json) process.stdout.write(`${JSON.stringify({ ok: true, point_id: r.pointId, disk: r.disk, to: o.to, format, virtual_size: r.virtualSize, bytes_read: r.bytesRead, chain: r.chain, verified: true, duration_ms: r.durationMs })}\n`);
      else process.stdout.write(`restored ${r.disk} of point ${r.pointId} to ${o.to} (${format}, ${human(r.virtualSize)}), every block verified; chain: ${r.chain.join(' <- ')}\n`);
      return 0;
    } finally {
      bar?.end();
      await target.close();
    }
  }, o.json);
}
