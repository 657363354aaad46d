/**
 * A slow link to a lab network namespace: a token-bucket filter (tc tbf) on the root
 * namespace's end of its veth pair, so traffic from this machine into the namespace (a backup
 * sent to a repository host there) flows at `mbit` Mbit/s. Deterministic slowness for tests that
 * act while a transfer runs; it goes away with the namespace.
 */
import { run } from '../../agent/system/run.ts';
import type { LabNetns } from './netns.ts';

export async function shapeLink(ns: LabNetns, mbit: number): Promise<void> {
  const links = (await run('ip', ['-n', ns.name, '-o', 'link', 'show'])).stdout;
  const m = /\d+:\s+(sdl\w+)n@/.exec(links);
  if (!m) throw new Error(`[lab] no veth end found in ${ns.name}: ${links}`);
  await run('tc', ['qdisc', 'add', 'dev', `${m[1]}h`, 'root', 'tbf', 'rate', `${mbit}mbit`, 'burst', '32kb', 'latency', '400ms']);
}
