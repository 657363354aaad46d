/**
 * @layer entry
 * `sendense-agent backup`: one backup of one domain into a repository (issue 3 §7).
 */
import { runBackup } from '../backup/backup.ts';
import type { Mode } from '../backup/decide.ts';
import { oneOf, parse } from './args.ts';
import { agentDeps, debugLog, withSignals } from './deps.ts';
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
  return withSignals(async (signal) => {
    const deps = await agentDeps({ repo: o.repo!, identity: o.identity, knownHosts: o['known-hosts'], signal });
    debug('repository target open');
    const bar = o.json ? undefined : progressBar(`backup ${o.domain}`);
    try {
      const r = await runBackup(deps, {
        domain: o.domain!, vmId: o['vm-id'], mode, disks: o.disks?.split(',').map((s) => s.trim()).filter(Boolean),
        quiesce: o.quiesce, signal, inFlight: o['in-flight'] ? Number(o['in-flight']) : undefined,
        onProgress: (p) => bar?.update(p.bytesRead, p.bytesToRead, `${p.disk} (${p.diskIndex + 1}/${p.disks})`),
      });
      bar?.end();
      if (o.json) {
        process.stdout.write(`${JSON.stringify({
          ok: true, point_id: r.pointId, vm_id: r.vmId, type: r.type, reason: r.reason, consistency: r.consistency,
          bytes_read: r.bytesRead, bytes_sent: r.bytesSent, duration_ms: r.durationMs,
          disks: r.disks.map((d) => ({ target: d.target, type: d.type, image: d.image, bytes_read: d.bytes_read, bytes_sent: d.bytes_sent, reason: d.reason })),
        })}\n`);
      } else {
        process.stdout.write(`point ${r.pointId} (${r.type}): ${r.reason}\n  ${r.consistency}\n  read ${human(r.bytesRead)}, sent ${human(r.bytesSent)} in ${(r.durationMs / 1000).toFixed(1)} s\n`);
      }
      return 0;
    } finally {
      bar?.end();
      // not awaited: the process exits once the answer is printed; the host sees the connection end
      void deps.close();
    }
  }, o.json);
}
