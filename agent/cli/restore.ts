/**
 * @layer entry
 * `sendense-agent restore`: one disk of one point, verified, to exactly one destination:
 *   --to PATH                      a new local qcow2 or raw file
 *   --in-place VOLUME              a stopped VM's volume file, kept until the restore is verified
 *                                  and put back on any failure (format: the volume's, or --format)
 *   --upload-url URL [--header K:V]…  an HTTP(S) multipart POST (CloudStack getUploadParamsForVolume)
 * The engine's restore, as the daemon's restore job runs it (agent/engine/restore-jobs.ts).
 */
import path from 'node:path';
import { hostEngine } from '../engine/host.ts';
import { describeIssues, RestoreBody } from '../engine/requests.ts';
import { UsageError, parse } from './args.ts';
import { withSignals } from './command.ts';
import { human, progressBar } from './progress.ts';

function headersOf(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new UsageError(`--header must be NAME:VALUE (got '${h}')`);
    out[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return out;
}

export async function restoreCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    repo: { type: 'string' }, 'vm-id': { type: 'string' }, disk: { type: 'string' }, point: { type: 'string' },
    to: { type: 'string' }, 'in-place': { type: 'string' }, 'upload-url': { type: 'string' }, header: { type: 'string', multiple: true },
    format: { type: 'string' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' },
    json: { type: 'boolean' }, overwrite: { type: 'boolean' },
  }, ['repo', 'vm-id', 'disk']);
  const dests = [o.to, o['in-place'], o['upload-url']].filter((x) => x !== undefined).length;
  if (dests !== 1) throw new UsageError('give exactly one destination: --to PATH, --in-place VOLUME or --upload-url URL');
  const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(p));
  const format = o.format as 'qcow2' | 'raw' | undefined;
  const parsed = RestoreBody.safeParse({
    repo: o.repo, identity: abs(o.identity), knownHosts: abs(o['known-hosts']), vmId: o['vm-id'], disk: o.disk, point: o.point,
    ...(o.to ? { to: abs(o.to), format: format ?? 'qcow2', overwrite: o.overwrite ?? false } : {}),
    ...(o['in-place'] ? { inPlace: { path: abs(o['in-place']), ...(format ? { format } : {}) } } : {}),
    ...(o['upload-url'] ? { upload: { url: o['upload-url'], headers: headersOf(o.header), format: format ?? 'qcow2' } } : {}),
  });
  if (!parsed.success) throw new UsageError(describeIssues(parsed.error).replace(/\binPlace\b/g, '--in-place').replace(/\bupload\.url\b/g, '--upload-url'));
  const req = parsed.data;
  return withSignals(async (signal) => {
    const bar = o.json ? undefined : progressBar(`restore ${o.disk}`);
    try {
      const r = await hostEngine().restore(req, {
        signal, onProgress: (p) => bar?.update(p.bytesDone, p.bytesTotal ?? 0), log: (m) => { if (!o.json) process.stderr.write(`${m}\n`); },
      });
      bar?.end();
      if (o.json) {
        process.stdout.write(`${JSON.stringify({
          ok: true, point_id: r.pointId, disk: r.disk, destination: r.destination, to: r.to, format: r.format, virtual_size: r.virtualSize,
          bytes_read: r.bytesRead, bytes_written: r.bytesWritten, chain: r.chain, verified: true, duration_ms: r.durationMs,
        })}\n`);
      } else {
        const where = r.destination === 'volume' ? `volume ${r.to} (in place)` : r.destination === 'upload' ? `upload ${r.to}` : r.to;
        process.stdout.write(`restored ${r.disk} of point ${r.pointId} to ${where} (${r.format}, ${human(r.virtualSize)}), every block verified; chain: ${r.chain.join(' <- ')}\n`);
      }
      return 0;
    } finally {
      bar?.end();
    }
  }, o.json);
}
