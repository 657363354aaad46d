/** Clean-up survives a crashed run: resources of a dead run are removed, a live run's are kept. */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cleanupStale } from './cleanup.ts';
import { createLabVm } from './vm.ts';
import { createNetns } from './netns.ts';
import { runId } from './paths.ts';
import { run } from '../../agent/system/run.ts';

async function domains(): Promise<string[]> {
  return (await run('virsh', ['-q', '-c', 'qemu:///system', 'list', '--all', '--name'])).stdout.split('\n').filter(Boolean);
}

describe('lab clean-up', () => {
  it('removes VMs, namespaces and files of a dead run and keeps the live run', async () => {
    const me = runId();
    const dead = String(spawnSync('true').pid); // a pid that has exited
    process.env.SENDENSE_LAB_RUN = dead;
    let staleVm, staleNs;
    try {
      staleVm = await createLabVm({ label: 'crashed', transient: true, disks: [{ size: 1 << 20 }] });
      staleNs = await createNetns('crashed');
    } finally {
      process.env.SENDENSE_LAB_RUN = me;
    }
    const liveVm = await createLabVm({ label: 'live', transient: true, disks: [{ size: 1 << 20 }] });
    try {
      expect(await domains()).toContain(staleVm.name);
      expect(existsSync(staleVm.dir)).toBe(true);
      const n = await cleanupStale(me);
      expect(n).toBeGreaterThanOrEqual(3);
      expect(await domains()).not.toContain(staleVm.name);
      expect(existsSync(staleVm.dir)).toBe(false);
      expect((await run('ip', ['netns', 'list'])).stdout).not.toContain(staleNs.name);
      expect(await domains()).toContain(liveVm.name);
      expect(await liveVm.state()).toBe('running');
    } finally {
      await liveVm.remove();
    }
  });
});
