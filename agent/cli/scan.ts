/**
 * @layer entry
 * `sendense-agent scan`: what a repository holds — per VM its metadata, points and bytes used, and
 * the problems found while reading. Exit 1 when there are problems.
 */
import { scanRepository } from '../retention/scan.ts';
import { parse } from './args.ts';
import { openRepoTarget, withSignals } from './deps.ts';
import { human } from './progress.ts';

export async function scanCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    repo: { type: 'string' }, 'vm-id': { type: 'string' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' }, json: { type: 'boolean' },
  }, ['repo']);
  return withSignals(async (signal) => {
    const target = await openRepoTarget(o.repo!, { identity: o.identity, knownHosts: o['known-hosts'], signal });
    try {
      const r = await scanRepository(target, o['vm-id'], signal);
      const problems = r.vms.flatMap((v) => v.problems.map((p) => `${v.vmId}: ${p}`));
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        for (const v of r.vms) {
          process.stdout.write(`${v.vmId} ${v.metadata?.vm_name ?? ''} ${v.metadata?.source_platform ?? ''}: ${v.points.length} points, ${human(v.bytesUsed)}\n`);
          for (const p of v.problems) process.stdout.write(`  problem: ${p}\n`);
        }
      }
      if (problems.length && !o.json) process.stderr.write(`sendense-agent: ${problems.length} problem(s) in ${target.url}: ${problems[0]}\n`);
      return problems.length ? 1 : 0;
    } finally {
      await target.close();
    }
  }, o.json);
}
