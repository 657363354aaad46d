/**
 * @layer entry
 * `sendense-agent backup`: one backup of one domain into a repository, on this host's engine.
 */
import type { Mode } from '../backup/decide.ts';
import { hostEngine } from '../engine/host.ts';
import { oneOf, parse } from './args.ts';
import { debugLog, withSignals } from './command.ts';
import { human, progressBar } from './progress.ts';

export async function backupCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    domain: { type: 'string' }, repo: { type: 'string' }, 'vm-id': { type: 'string' }, mode: { type: 'string' },
    disks: { type: 'string' }, quiesce: { type: 'boolean' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' },
    json: { type: 'boolean' }, 'in-flight': { type: 'string' },
  }, ['domain', 'repo']);
  const mode = oneOf<Mode>('mode', o.mode, ['auto', 'full', 'incremental'], 'auto');
  const debug = debugLog();
  debug('command line parsed');
  // the repository connection is closed in the background: the process exits once the answer is printed
  const engine = hostEngine({ closeInBackground: true });
  return withSignals(async (signal) => {
    const bar = o.json ? undefined : progressBar(`backup ${o.domain}`);
    try {
      const r = await engine.backup({
        domain: o.domain!, repo: o.repo!, identity: o.identity, knownHosts: o['known-hosts'], vmId: o['vm-id'], mode,
        disks: o.disks?.split(',').map((s) => s.trim()).filter(Boolean), quiesce: o.quiesce ?? false,
        inFlight: o['in-flight'] ? Number(o['in-flight']) : undefined,
      }, {
        signal, log: debug,
        onProgress: (p) => bar?.update(p.bytesDone, p.bytesTotal, `${p.disk} (${(p.diskIndex ?? 0) + 1}/${p.disks})`),
      });
      bar?.end();
      if (o.json) {
        process.stdout.write(`${JSON.stringify({
          ok: true, point_id: r.pointId, vm_id: r.vmId, type: r.type, reason: r.reason, consistency: r.consistency,
          bytes_read: r.bytesRead, bytes_sent: r.bytesSent, duration_ms: r.durationMs,
          disks: (r.manifest?.disks ?? []).map((d) => ({ target: d.target, type: d.type, image: d.image, bytes_read: d.bytes_read, bytes_sent: d.bytes_sent, reason: d.reason })),
        })}\n`);
      } else {
        process.stdout.write(`point ${r.pointId} (${r.type}): ${r.reason}\n  ${r.consistency}\n  read ${human(r.bytesRead)}, sent ${human(r.bytesSent)} in ${(r.durationMs / 1000).toFixed(1)} s\n`);
      }
      return 0;
    } finally {
      bar?.end();
    }
  }, o.json);
}
