/**
 * A second "host" on this machine: a network namespace the lab creates, joined to the root
 * namespace by a veth pair with addresses from 198.18.0.0/15 (RFC 2544's benchmarking range).
 * Traffic never leaves the machine. Namespaces are named sdlab-<run>-… and removed by cleanup.
 */
import { randomInt } from 'node:crypto';
import { run } from '../../agent/system/run.ts';
import { labName } from './paths.ts';

export interface LabNetns {
  name: string;
  /** address of the namespace's end */
  address: string;
  /** address of the root namespace's end */
  hostAddress: string;
  exec(program: string, args: string[]): [string, string[]];
  remove(): Promise<void>;
}

export async function createNetns(label = 'ns'): Promise<LabNetns> {
  const name = labName(label);
  await run('ip', ['netns', 'add', name]);
  for (let attempt = 0; ; attempt++) {
    const idx = randomInt(1, 32000);
    const base = idx * 4;
    const a = `198.${18 + (base >> 16)}.${(base >> 8) & 255}.${(base & 255) + 1}`;
    const b = `198.${18 + (base >> 16)}.${(base >> 8) & 255}.${(base & 255) + 2}`;
    const vh = `sdl${idx.toString(36)}h`;
    const vn = `sdl${idx.toString(36)}n`;
    try {
      await run('ip', ['link', 'add', vh, 'type', 'veth', 'peer', 'name', vn]);
    } catch (e) {
      if (attempt < 5) continue;
      throw e;
    }
    await run('ip', ['link', 'set', vn, 'netns', name]);
    await run('ip', ['addr', 'add', `${a}/30`, 'dev', vh]);
    await run('ip', ['link', 'set', vh, 'up']);
    await run('ip', ['-n', name, 'addr', 'add', `${b}/30`, 'dev', vn]);
    await run('ip', ['-n', name, 'link', 'set', vn, 'up']);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return {
      name,
      address: b,
      hostAddress: a,
      exec: (program, args) => ['ip', ['netns', 'exec', name, program, ...args]],
      remove: async () => {
        await run('ip', ['netns', 'delete', name]).catch(() => {});
      },
    };
  }
}
