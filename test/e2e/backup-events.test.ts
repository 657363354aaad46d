/**
 * Through the control plane with the real agent (issue 5 §7): a backup started with
 * POST /api/v1/vms/{id}/backups streams its progress on GET /api/v1/jobs/{id}/events (bytes never
 * go backwards, the last event is the final state) and its point restores to the disk's content;
 * a backup cancelled while it runs (POST /api/v1/jobs/{id}/cancel) ends cancelled with no point in
 * the database or the repository, the VM running and not paused, no libvirt job left behind, and
 * the next backup succeeds and restores correctly.
 *
 * The repository host sits behind a link shaped to 40 Mbit/s, so the full of a 64 MiB disk with
 * 24 MiB of random data takes ~5 s: long enough to cancel mid-transfer, every time.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { virsh } from '../lab/virsh.ts';
import { startE2e, type E2e } from './setup.ts';

const M = 1 << 20;

interface JobEvent { id: string; status: string; type: string | null; bytesDone: number; bytesTotal: number | null; error: { code: string; message: string } | null }

/** Reads a job's server-sent events until the stream ends; `onEvent` sees each as it comes. */
async function readEvents(e2e: E2e, token: string, jobId: string, onEvent?: (ev: JobEvent) => void): Promise<JobEvent[]> {
  const r = await e2e.api(`/api/v1/jobs/${jobId}/events`, { token });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/text\/event-stream/);
  const out: JobEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  const reader = r.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const lines = block.split('\n');
      if (!lines.some((l) => l === 'event: job')) continue; // keep-alive comments
      const ev = JSON.parse(lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')) as JobEvent;
      out.push(ev);
      onEvent?.(ev);
    }
  }
  return out;
}

/** Every file name under a directory, relative: the repository's shape. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      out.push(path.relative(dir, p));
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

describe('backups through the control plane: progress events and cancel (real agent over SSH)', () => {
  let e2e: E2e;
  let token: string;
  let repoDir: string;

  beforeAll(async () => {
    e2e = await startE2e({ label: 'e2e-events', vms: [{ name: 'web-1', disks: [{ size: 64 * M, randomPrefix: 24 * M }] }], repoRateMbit: 40 });
    token = await e2e.login('alice'); // the VM's owner, not an admin
    repoDir = path.join(e2e.repo.root, 'backups');
  }, 120_000);
  afterAll(async () => { await e2e?.close(); });

  const start = async (mode: 'full' | 'auto') => {
    const r = await e2e.api(`/api/v1/vms/${e2e.vm('web-1').id}/backups`, { method: 'POST', token, body: JSON.stringify({ mode }) });
    expect(r.status, await r.clone().text()).toBe(202);
    return (await r.json()) as JobEvent;
  };
  const points = async () => {
    const r = await e2e.api(`/api/v1/vms/${e2e.vm('web-1').id}/restore-points`, { token });
    expect(r.status).toBe(200);
    return ((await r.json()) as { items: { id: string; pointId: string; jobId: string | null }[]; total: number });
  };
  const check = async (dbId: string, truth: string) => {
    const p = await e2e.server.cp.store.points.get(dbId);
    return e2e.sameAsTruth({ vmUuid: p!.manifest.vm_uuid, pointId: p!.pointId }, 'vda', truth);
  };

  it('progress: monotonic bytes, a final succeeded event; the point restores to the disk', async () => {
    const vm = e2e.vm('web-1').lab;
    const truth = await vm.truth('vda');
    const job = await start('full');
    const events = await readEvents(e2e, token, job.id);
    const last = events.at(-1)!;
    expect(last.status, JSON.stringify(last.error)).toBe('succeeded');
    expect(events.filter((e) => e.status === 'succeeded')).toHaveLength(1);
    const bytes = events.map((e) => e.bytesDone);
    for (let i = 1; i < bytes.length; i++) expect(bytes[i]).toBeGreaterThanOrEqual(bytes[i - 1]);
    // progress in between, not only a start and an end
    expect(events.filter((e) => e.status === 'running' && e.bytesDone > 0 && e.bytesDone < last.bytesDone).length).toBeGreaterThan(0);
    expect(last.bytesDone).toBeGreaterThanOrEqual(24 * M);
    const list = await points();
    expect(list.total).toBe(1);
    expect(list.items[0].jobId).toBe(job.id);
    expect(await check(list.items[0].id, truth)).toBe(true);
  }, 180_000);

  it('cancel while running: cancelled, no point anywhere, VM running, no libvirt job; the next backup is correct', async () => {
    const vm = e2e.vm('web-1').lab;
    await vm.write('vda', 40 * M, 8 * M, 0x5e);
    const before = tree(repoDir);
    const job = await start('full');
    let cancelledAt = -1;
    const events = await readEvents(e2e, token, job.id, (ev) => {
      if (cancelledAt < 0 && ev.status === 'running' && ev.bytesDone > 0) {
        cancelledAt = ev.bytesDone;
        void e2e.api(`/api/v1/jobs/${job.id}/cancel`, { method: 'POST', token }).then(async (r) => {
          expect(r.status, await r.text()).toBeLessThan(300);
        });
      }
    });
    expect(cancelledAt).toBeGreaterThan(0);
    const last = events.at(-1)!;
    expect(last.status).toBe('cancelled');
    expect(last.bytesDone).toBeLessThan(64 * M); // it stopped mid-transfer
    const got = (await (await e2e.api(`/api/v1/jobs/${job.id}`, { token })).json()) as JobEvent;
    expect(got.status).toBe('cancelled');

    // no point in the database (by the API and by the job) nor in the repository
    expect((await points()).total).toBe(1);
    expect((await e2e.server.cp.store.points.listForVm(e2e.vm('web-1').id)).some((p) => p.jobId === job.id)).toBe(false);
    expect(tree(repoDir)).toEqual(before);
    // the VM runs, unpaused, with no backup job left in libvirt
    expect(await vm.state()).toBe('running');
    expect(await virsh(['domjobinfo', vm.name])).toMatch(/Job type:\s+None/);

    // the next backup succeeds and restores to the disk as it is now
    const truth = await vm.truth('vda');
    const next = await start('auto');
    const done = (await readEvents(e2e, token, next.id)).at(-1)!;
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    const list = await points();
    expect(list.total).toBe(2);
    expect(list.items[0].jobId).toBe(next.id);
    expect(await check(list.items[0].id, truth)).toBe(true);
  }, 240_000);
});
