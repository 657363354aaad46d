/**
 * API p99 latency and throughput listing 100 of 10,000 restore points under 50 concurrent
 * clients. CloudStack is the simulator; the clients page through a VM's points as a root admin
 * (token) and as the VM's owner (a user: CloudStack decides whether the VM is theirs; the control
 * plane reuses that answer for up to 5 s, api/auth/authorize.ts). Three set-ups in one run, each
 * with its reference under the same load, /healthz (one small query, no CloudStack):
 * - one control plane on a real SQLite file and a real HTTP server (@hono/node-server);
 * - one control plane on PostgreSQL 15 (test/lab/postgres.ts; the same 10,000 points, moved
 *   there with `sendense db copy`'s copyDatabase);
 * - two control planes on that PostgreSQL behind nginx (Debian's) as a round-robin proxy with no
 *   sticky sessions: a token signed in on one is used on both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createControlPlane, type ControlPlane } from '../../api/control-plane.ts';
import { ENDPOINT, makeFixture, type Fixture } from '../../api/testing/fixture.ts';
import { copyDatabase } from '../../db/copy.ts';
import { openPgChangeFeed } from '../../db/pg/changes.ts';
import { openPgStore } from '../../db/pg/open.ts';
import { startPostgres } from '../lab/postgres.ts';
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

type Load = { p50: number; p99: number; rps: number; errors: number };
const fmt = (x: Load) => `p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms, ${x.rps.toFixed(0)} req/s${x.errors ? `, ${x.errors} errors` : ''}`;

async function listen(fetch: ControlPlane['app']['fetch']): Promise<{ url: string; port: number; close(): void }> {
  const server = serve({ fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, close: () => server.close() };
}

/** nginx as a round-robin proxy in front of the given ports (no stickiness); resolves once it answers */
async function roundRobin(ports: number[]): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-bench-nginx-'));
  const probe = await listen(() => new Response('')); // a free port for nginx
  const port = probe.port;
  probe.close();
  writeFileSync(path.join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream sendense { ${ports.map((p) => `server 127.0.0.1:${p};`).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://sendense; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`);
  const nginx: ChildProcess = spawn('/usr/sbin/nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  nginx.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (nginx.exitCode !== null) throw new Error(`[bench] nginx exited with ${nginx.exitCode}: ${err}`);
    try { if ((await fetch(`${url}/healthz`)).ok) break; } catch { /* not yet */ }
    if (i > 100) throw new Error(`[bench] nginx did not answer on ${url}: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      const gone = new Promise((r) => nginx.once('exit', r));
      nginx.kill('SIGQUIT');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (nginx.exitCode === null) nginx.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** a control plane on PostgreSQL beside the fixture's (same simulator, same agent, same token secret) */
async function pgInstance(f: Fixture, url: string, id: string) {
  const store = await openPgStore(url, { max: 10 });
  const changes = await openPgChangeFeed(url);
  const cp = createControlPlane({
    store, gateway: f.gateway, tokenSecret: 'test-secret-that-is-long-enough-0123456789', instanceId: id, changes,
    cloudstack: { endpoint: ENDPOINT, credentials: f.sim.adminKeys, fetch: f.sim.fetch }, log: () => {}, clientAddress: () => '192.0.2.10',
  });
  await cp.start({ discoveryIntervalSeconds: 0, schedulerTickSeconds: 0, heartbeatSeconds: 0, discoverNow: false });
  const server = await listen(cp.app.fetch);
  return { ...server, async close() { server.close(); await cp.stop(); await changes.close(); await store.close(); } };
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
    const sqlite = await listen(f.cp.app.fetch);
    const admin = { authorization: `Bearer ${await f.login('admin')}` };
    const alice = { authorization: `Bearer ${await f.login('alice')}` };
    const page = (i: number) => `/api/v1/vms/${vm}/restore-points?limit=100&offset=${(i * 100) % 10_000}`;
    const measure = async (where: string, url: string) => {
      log(`${where}: warming up`);
      await load(url, 10, 10, admin, page);
      const ref = await load(url, 50, 40, {}, () => '/healthz');
      const a = await load(url, 50, 40, admin, page);
      const u = await load(url, 50, 40, alice, page);
      log(`${where}: healthz ${fmt(ref)}; admin ${fmt(a)}; user ${fmt(u)}`);
      return { ref, a, u };
    };
    const rows: Row[] = [];
    const push = (where: string, m: { ref: Load; a: Load; u: Load }) => rows.push(
      { what: `API on ${where}: 100 of 10,000 restore points, 50 clients, root admin`, value: fmt(m.a), reference: `/healthz ${fmt(m.ref)}`, ratio: (m.a.p99 / m.ref.p99).toFixed(1), target: 'p99 (no target set)', pass: m.a.errors === 0 },
      { what: `API on ${where}: the same as the VM's owner (CloudStack's answer on the VM reused for up to 5 s)`, value: fmt(m.u), reference: `/healthz p99 ${m.ref.p99.toFixed(1)} ms`, ratio: (m.u.p99 / m.ref.p99).toFixed(1), target: 'p99 (no target set)', pass: m.u.errors === 0 },
    );
    try {
      push('SQLite', await measure('SQLite', sqlite.url));
    } finally {
      sqlite.close();
    }
    log('PostgreSQL 15: starting a cluster, copying the catalogue (sendense db copy)');
    const cluster = await startPostgres();
    try {
      const url = await cluster.createDatabase('bench');
      const copied = await copyDatabase(f.dbPath, url);
      log(`copied in ${copied.ms} ms`);
      const one = await pgInstance(f, url, 'pg-1');
      try {
        push('PostgreSQL', await measure('PostgreSQL, one instance', one.url));
        const two = await pgInstance(f, url, 'pg-2');
        const proxy = await roundRobin([one.port, two.port]);
        try {
          const seen = new Set<string>();
          for (let i = 0; i < 6; i++) seen.add(((await (await fetch(`${proxy.url}/healthz`)).json()) as { instance: string }).instance);
          log(`nginx round-robin over ${[...seen].join(', ')}`);
          if (seen.size !== 2) throw new Error(`[bench] nginx reached ${[...seen].join(', ')}, not both instances`);
          push('PostgreSQL, two instances behind nginx (round-robin)', await measure('PostgreSQL, two instances behind nginx', proxy.url));
        } finally {
          await proxy.stop();
          await two.close();
        }
      } finally {
        await one.close();
      }
    } finally {
      cluster.destroy();
    }
    return rows;
  } finally {
    await f.close();
  }
}
