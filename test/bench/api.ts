/**
 * Issue 5 §7: API p99 latency listing 10,000 restore points under 50 concurrent clients. The
 * control plane runs on a real SQLite file and a real HTTP server (@hono/node-server), CloudStack
 * is the simulator; the clients page through a VM's points as a root admin (token) and as the
 * VM's owner (a user: CloudStack decides whether the VM is theirs; the control plane reuses that
 * answer for up to 5 s, api/auth/authorize.ts). The reference
 * in the same run: /healthz (no database, no CloudStack) under the same load.
 */
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { makeFixture } from '../../api/testing/fixture.ts';
import type { PointManifest } from '../../agent/repository/manifest.ts';
import type { Row } from './agent.ts';

const sha = (c: string) => c.repeat(64);

/** A plausible one-disk manifest (its times from the point id): for benches and store tests. */
export function manifest(id: string, type: 'full' | 'incremental', parent: string | null, vm: string): PointManifest {
  const t = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}.000Z`;
  return {
    format: 'sendense-point', version: 1, id, vm_uuid: vm, type, reason: type, parent, created_at: t, started_at: t, finished_at: t,
    duration_ms: 10, consistency: 'crash', vm_state: 'running', agent: { host: 'kvm1', version: 'bench' },
    disks: [{
      index: 0, target: 'vda', type, reason: type, image: `${type === 'full' ? 'full' : 'incr'}-${id}.qcow2`, backing: null, checkpoint: `sendense-${id}`,
      virtual_size: 1 << 30, file_size: 1 << 20, bytes_read: 1 << 20, bytes_written: 1 << 20, bytes_sent: 1 << 20, data_clusters: 16, zero_clusters: 0,
      sums: 'x.sums', block_size: 1_048_576, content_sha256: sha('a'), file_sha256: { header: sha('b'), body: sha('c') },
    }],
  };
}

function pointId(i: number): string {
  const d = new Date(Date.UTC(2025, 0, 1) + i * 3600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function load(url: string, clients: number, perClient: number, headers: Record<string, string>, pathOf: (i: number) => string): Promise<{ p50: number; p99: number; rps: number; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let i = 0; i < perClient; i++) {
      const s = performance.now();
      try {
        const r = await fetch(`${url}${pathOf(c * perClient + i)}`, { headers });
        await r.arrayBuffer();
        if (!r.ok) errors++;
      } catch {
        errors++; // a reset connection counts against us, it does not stop the run
      }
      lat.push(performance.now() - s);
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), rps: lat.length / secs, errors };
}

export async function benchApi(log: (s: string) => void): Promise<Row[]> {
  const f = await makeFixture({ discover: true });
  try {
    const vm = f.vmId('web-1');
    const [repo] = await f.store.repositories.list();
    log('recording 10,000 restore points (one chain of fulls and incrementals) in SQLite');
    let chainId = '';
    let parentId = '';
    let parentPoint: string | null = null;
    for (let i = 0; i < 10_000; i++) {
      const full = i % 50 === 0;
      const job = await f.store.jobs.create({ id: crypto.randomUUID(), platformVmId: vm, type: full ? 'full' : 'incremental', typeReason: 'bench', trigger: 'schedule', repositoryId: repo.id, status: 'running', queuedAt: new Date() });
      const id = pointId(i);
      const p = await f.store.points.record({
        jobId: job.id, jobPatch: { status: 'succeeded', finishedAt: new Date() }, manifest: manifest(id, full ? 'full' : 'incremental', full ? null : parentPoint, vm),
        platformVmId: vm, sourcePlatform: 'cloudstack', repositoryId: repo.id, chain: full ? { kind: 'new' } : { kind: 'extend', chainId, parentId },
      });
      chainId = p.chainId;
      parentId = p.id;
      parentPoint = id;
    }
    const server = serve({ fetch: f.cp.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((r) => server.once('listening', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const admin = { authorization: `Bearer ${await f.login('admin')}` };
      const alice = { authorization: `Bearer ${await f.login('alice')}` };
      const page = (i: number) => `/api/v1/vms/${vm}/restore-points?limit=100&offset=${(i * 100) % 10_000}`;
      log('warming up');
      await load(url, 10, 10, admin, page);
      const ref = await load(url, 50, 40, {}, () => '/healthz');
      const a = await load(url, 50, 40, admin, page);
      const u = await load(url, 50, 40, alice, page);
      log(`healthz p99 ${ref.p99.toFixed(1)} ms; admin p99 ${a.p99.toFixed(1)} ms; user p99 ${u.p99.toFixed(1)} ms`);
      const fmt = (x: { p50: number; p99: number; rps: number; errors: number }) => `p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms, ${x.rps.toFixed(0)} req/s${x.errors ? `, ${x.errors} errors` : ''}`;
      return [
        { what: 'API: 100 of 10,000 restore points, 50 clients, root admin', value: fmt(a), reference: `/healthz ${fmt(ref)}`, ratio: (a.p99 / ref.p99).toFixed(1), target: 'p99 (no target set)', pass: a.errors === 0 },
        { what: 'API: the same as the VM\'s owner (CloudStack\'s answer on the VM reused for up to 5 s)', value: fmt(u), reference: `/healthz p99 ${ref.p99.toFixed(1)} ms`, ratio: (u.p99 / ref.p99).toFixed(1), target: 'p99 (no target set)', pass: u.errors === 0 },
      ];
    } finally {
      server.close();
    }
  } finally {
    await f.close();
  }
}
