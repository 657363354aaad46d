/**
 * Issue 12 item 7: a real agent daemon started over a work dir a crash left scratch files in
 * (a download's qcow2 `image-*`, a restore test's raw file and its partial) removes them before
 * it runs any job, says so, and leaves every other file alone.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonDir, spawnDaemon } from '../lab/agent-daemon.ts';

describe('agent daemon start-up', () => {
  it("removes a crash's scratch files from its work dir, nothing else", async () => {
    const dir = daemonDir('leftovers');
    const work = path.join(dir, 'work');
    mkdirSync(work, { recursive: true });
    const scratch = ['image-vm1-vda-20261201-101010-0a1b2c3d.qcow2', 'restore-test-vm1-20261201-101010-vda-0a1b2c3d.raw',
      'restore-test-vm1-20261201-101010-vda-0a1b2c3d.raw.sendense-partial-00ff00ff'];
    for (const n of [...scratch, 'keep-me.txt']) writeFileSync(path.join(work, n), 'x'.repeat(4096));
    const d = await spawnDaemon({ dir });
    try {
      expect(readdirSync(work).filter((n) => !n.startsWith('job-')).sort()).toEqual(['keep-me.txt']);
      expect(d.log()).toMatch(/removed 3 scratch file\(s\) an interrupted run left/);
    } finally {
      d.kill('SIGTERM');
      await d.exited;
    }
  }, 180_000);
});
