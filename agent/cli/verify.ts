/**
 * @layer entry
 * `sendense-agent verify`: checks one point or all points of a VM; exit 1 when anything is wrong.
 */
import { hostEngine } from '../engine/host.ts';
import { parse } from './args.ts';
import { withSignals } from './command.ts';

export async function verifyCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    repo: { type: 'string' }, 'vm-id': { type: 'string' }, point: { type: 'string' },
    identity: { type: 'string' }, 'known-hosts': { type: 'string' }, json: { type: 'boolean' },
  }, ['repo', 'vm-id']);
  return withSignals(async (signal) => {
    const r = await hostEngine().verify({ repo: o.repo!, identity: o.identity, knownHosts: o['known-hosts'], vmId: o['vm-id']!, point: o.point, restoreTest: false }, {
      signal, log: () => {}, onProgress: () => {},
    });
    if (o.json) process.stdout.write(`${JSON.stringify({ vm: r.vmId, ok: r.ok, points: r.points, durationMs: r.durationMs })}\n`);
    else {
      for (const p of r.points) {
        for (const d of p.disks) {
          process.stdout.write(`${p.pointId} ${d.target}: ${d.ok ? 'ok' : 'FAILED'} (chain ${d.chain.length}, ${d.bytesRead} bytes checked)\n`);
          for (const x of d.problems) process.stdout.write(`  ${x}\n`);
        }
      }
      process.stdout.write(r.ok ? `all ${r.points.length} point(s) verified\n` : 'verification FAILED\n');
    }
    if (!r.ok && !o.json) process.stderr.write(`sendense-agent: verification of ${o['vm-id']} failed: ${r.points.flatMap((p) => p.disks.flatMap((d) => d.problems))[0]}\n`);
    return r.ok ? 0 : 1;
  }, o.json);
}
