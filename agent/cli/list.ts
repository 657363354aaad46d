/**
 * @layer entry
 * `sendense-agent list`: the VMs of a repository, or the points of one VM.
 */
import { hostEngine } from '../engine/host.ts';
import { parse } from './args.ts';
import { withSignals } from './command.ts';
import { human } from './progress.ts';

export async function listCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    repo: { type: 'string' }, 'vm-id': { type: 'string' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' }, json: { type: 'boolean' },
  }, ['repo']);
  return withSignals(async (signal) => {
    const r = await hostEngine().list({ repo: o.repo!, identity: o.identity, knownHosts: o['known-hosts'], vmId: o['vm-id'] }, signal);
    const out = r.vms.map(({ vmId, metadata: meta, points }) => ({
      vm_id: vmId, vm_name: meta?.vm_name ?? null, source_platform: meta?.source_platform ?? null,
      points: points.map((p) => ({
        id: p.id, type: p.type, parent: p.parent, created_at: p.created_at, reason: p.reason, consistency: p.consistency,
        bytes: p.disks.reduce((n, d) => n + d.file_size, 0),
        disks: p.disks.map((d) => ({ target: d.target, type: d.type, image: d.image, virtual_size: d.virtual_size, file_size: d.file_size })),
      })),
    }));
    if (o.json) process.stdout.write(`${JSON.stringify(o['vm-id'] ? out[0] : { vms: out })}\n`);
    else {
      for (const v of out) {
        process.stdout.write(`${v.vm_id} ${v.vm_name ?? ''} (${v.points.length} points)\n`);
        for (const p of v.points) process.stdout.write(`  ${p.id}  ${p.type.padEnd(11)} ${human(p.bytes).padStart(10)}  ${p.disks.map((d) => d.target).join(',')}  ${p.reason}\n`);
      }
    }
    return 0;
  }, o.json);
}
