/**
 * @layer entry
 * `sendense-agent list`: the VMs of a repository, or the points of one VM.
 */
import { Repository } from '../repository/repository.ts';
import { parse } from './args.ts';
import { openRepoTarget, withSignals } from './deps.ts';
import { human } from './progress.ts';

export async function listCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    repo: { type: 'string' }, 'vm-id': { type: 'string' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' }, json: { type: 'boolean' },
  }, ['repo']);
  return withSignals(async (signal) => {
    const target = await openRepoTarget(o.repo!, { identity: o.identity, knownHosts: o['known-hosts'], signal });
    try {
      const repo = new Repository(target);
      const vms = o['vm-id'] ? [o['vm-id']] : await repo.listVms(signal);
      const out = [];
      for (const vm of vms) {
        const meta = await repo.readMetadata(vm, signal);
        const points = await repo.points(vm, signal);
        out.push({
          vm_id: vm, vm_name: meta?.vm_name ?? null, source_platform: meta?.source_platform ?? null,
          points: points.map((p) => ({
            id: p.id, type: p.type, parent: p.parent, created_at: p.created_at, reason: p.reason, consistency: p.consistency,
            bytes: p.disks.reduce((n, d) => n + d.file_size, 0),
            disks: p.disks.map((d) => ({ target: d.target, type: d.type, image: d.image, virtual_size: d.virtual_size, file_size: d.file_size })),
          })),
        });
      }
      if (o.json) process.stdout.write(`${JSON.stringify(o['vm-id'] ? out[0] : { vms: out })}\n`);
      else {
        for (const v of out) {
          process.stdout.write(`${v.vm_id} ${v.vm_name ?? ''} (${v.points.length} points)\n`);
          for (const p of v.points) process.stdout.write(`  ${p.id}  ${p.type.padEnd(11)} ${human(p.bytes).padStart(10)}  ${p.disks.map((d) => d.target).join(',')}  ${p.reason}\n`);
        }
      }
      return 0;
    } finally {
      await target.close();
    }
  }, o.json);
}
