/**
 * The daemon's health reports its work dir's file system (statfs at every call): free and total
 * bytes for the control plane's full-work-dir event; a work dir it cannot read is a problem
 * (ok: false), not a crash.
 */
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import { agentClient, agentJson } from '../link/client.ts';
import { createAgentApp } from './app.ts';
import { FakeEngine } from './fake-engine.ts';
import { MemoryJournal } from './journal.ts';
import type { Capabilities, Health } from './service.ts';

const CAPS: Capabilities = {
  libvirt: { version: 'libvirt 9.0.0', hypervisor: 'QEMU 7.2.0', backup: true },
  qemuImg: 'qemu-img version 7.2.0', qemuNbd: 'qemu-nbd 7.2.0',
  nbd: { client: 'builtin', transports: ['unix'], metaContexts: ['base:allocation'] },
};

const dir = mkdtempSync(path.join(tmpdir(), 'sendense-workdir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function health(workDir?: string): Promise<Health> {
  const agent = createAgentApp({
    engine: new FakeEngine({ steps: 1, stepMs: 1 }), journal: new MemoryJournal(), hypervisor: new MemoryHypervisor(),
    version: '0.1.0-test', hostname: 'kvm-test', probe: async () => CAPS, problems: () => [], ...(workDir ? { workDir } : {}),
  });
  const client = agentClient((input, init) => Promise.resolve(agent.app.request(input instanceof Request ? input : String(input), init)));
  try {
    return await agentJson(await client.v1.health.$get()) as Health;
  } finally {
    await agent.close();
  }
}

describe('daemon health: the work dir', () => {
  it('reports the free and total bytes of the work dir\'s file system', async () => {
    const h = await health(dir);
    const f = statfsSync(dir);
    expect(h.ok).toBe(true);
    expect(h.workDir).toMatchObject({ path: dir, totalBytes: f.blocks * f.bsize });
    expect(h.workDir!.freeBytes).toBeGreaterThan(0);
    expect(h.workDir!.freeBytes).toBeLessThanOrEqual(h.workDir!.totalBytes);
  });

  it('a work dir it cannot read is a problem: ok false, saying which', async () => {
    const h = await health(path.join(dir, 'missing'));
    expect(h.ok).toBe(false);
    expect(h.workDir).toBeUndefined();
    expect(h.problems).toEqual([expect.stringMatching(new RegExp(`^the work dir ${dir}/missing cannot be read: .*ENOENT`))]);
  });

  it('no work dir given (tests, fake engines): no workDir field', async () => {
    expect((await health()).workDir).toBeUndefined();
  });
});
