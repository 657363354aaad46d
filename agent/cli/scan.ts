/**
 * @layer entry
 * `sendense-agent scan`: what a repository holds — per VM its metadata, points and bytes used, and
 * the problems found while reading. Exit 1 when there are problems.
 */
import { userInfo } from 'node:os';
import path from 'node:path';
import { hostEngine } from '../engine/host.ts';
import { formatSshUrl, parseTargetUrl } from '../target/url.ts';
import { parse } from './args.ts';
import { withSignals } from './command.ts';
import { human } from './progress.ts';

export async function scanCommand(argv: string[]): Promise<number> {
  const o = parse(argv, {
    repo: { type: 'string' }, 'vm-id': { type: 'string' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' }, json: { type: 'boolean' },
  }, ['repo']);
  return withSignals(async (signal) => {
    const r = await hostEngine().scan({ repo: o.repo!, identity: o.identity, knownHosts: o['known-hosts'], vmId: o['vm-id'] }, signal);
    const problems = r.vms.flatMap((v) => v.problems.map((p) => `${v.vmId}: ${p}`));
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      for (const v of r.vms) {
        process.stdout.write(`${v.vmId} ${v.metadata?.vm_name ?? ''} ${v.metadata?.source_platform ?? ''}: ${v.points.length} points, ${human(v.bytesUsed)}\n`);
        for (const p of v.problems) process.stdout.write(`  problem: ${p}\n`);
      }
    }
    if (problems.length && !o.json) process.stderr.write(`sendense-agent: ${problems.length} problem(s) in ${repoUrl(o.repo!)}: ${problems[0]}\n`);
    return problems.length ? 1 : 0;
  }, o.json);
}

/** The repository's URL as its target names it (a resolved path, or the canonical ssh:// URL). */
function repoUrl(repo: string): string {
  const loc = parseTargetUrl(repo);
  return loc.kind === 'local' ? path.resolve(loc.path) : formatSshUrl({ ...loc, user: loc.user ?? userInfo().username });
}
