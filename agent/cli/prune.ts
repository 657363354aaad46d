/**
 * @layer entry
 * `sendense-agent prune`: removes restore points of a VM, merging forward the remaining points
 * whose parent goes (docs/FORMAT.md, "Retention"). Exit 1 when the prune stopped (nothing removed).
 */
import { hostEngine } from '../engine/host.ts';
import { parse, UsageError } from './args.ts';
import { debugLog, withSignals } from './command.ts';
import { human } from './progress.ts';

export async function pruneCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    repo: { type: 'string' }, 'vm-id': { type: 'string' }, remove: { type: 'string' },
    identity: { type: 'string' }, 'known-hosts': { type: 'string' }, json: { type: 'boolean' },
  }, ['repo', 'vm-id', 'remove']);
  const remove = o.remove!.split(',').map((s) => s.trim()).filter(Boolean);
  if (!remove.length) throw new UsageError('--remove needs at least one point id');
  return withSignals(async (signal) => {
    const r = await hostEngine().prune({ repo: o.repo!, identity: o.identity, knownHosts: o['known-hosts'], vmId: o['vm-id']!, remove }, {
      signal, log: debugLog(), onProgress: () => {},
    });
    if (o.json) process.stdout.write(`${JSON.stringify({ ok: true, ...r })}\n`);
    else {
      for (const m of r.merged) process.stdout.write(`${m.pointId}: merged forward into a full (${m.from.join(', ')} folded in, ${human(m.bytesWritten)} written)\n`);
      process.stdout.write(`removed ${r.removed.join(', ')}; ${human(Math.max(0, r.bytesFreed))} freed in ${r.durationMs} ms\n`);
    }
    return 0;
  }, o.json);
}
