/**
 * The node:https HttpFetch: a CloudStack behind a private CA (a real HTTPS server with a
 * certificate signed by a CA made here with openssl), the insecure mode and its warning.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { createSimulator, type Simulator } from '../cloudstack-sim/app.ts';
import { serveSimulator, type ServedSimulator } from '../cloudstack-sim/serve.ts';
import { CloudStackClient } from './client.ts';
import { CloudStackError } from './errors.ts';
import { createNodeFetch, INSECURE_WARNING } from './node-fetch.ts';
import { globalFetch, type HttpFetch } from './port.ts';

let dir: string;
let sim: Simulator;
let served: ServedSimulator;
let caPem: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sendense-tls-'));
  const f = (n: string) => path.join(dir, n);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=Sendense Test CA']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('srv.key'), '-out', f('srv.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', ['x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('srv.pem'), '-days', '1', '-extfile', f('ext.cnf')]);
  caPem = readFileSync(f('ca.pem'), 'utf8');
  sim = createSimulator();
  served = await serveSimulator(sim, { tls: { key: readFileSync(f('srv.key')), cert: readFileSync(f('srv.pem')) } });
});

afterAll(async () => {
  await served?.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = (fetch: HttpFetch) => new CloudStackClient({ endpoint: served.endpoint, fetch, credentials: sim.adminKeys, retry: { retries: 0 } });

describe('node:https HttpFetch', () => {
  it('trusts a private CA given as PEM', async () => {
    expect(served.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/client\/api$/);
    const zones = await client(createNodeFetch({ ca: caPem })).listZones();
    expect(zones.map((z) => z.name)).toEqual(['zone1']);
  });

  it('refuses the certificate without the CA (node:https and the built-in fetch)', async () => {
    for (const fetch of [createNodeFetch(), globalFetch]) {
      const e = await client(fetch).listZones().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CloudStackError);
      expect((e as CloudStackError).kind).toBe('network');
      expect((e as CloudStackError).errortext).toMatch(/certificate/i);
    }
  });

  it('skips verification in insecure mode, and says so loudly', async () => {
    const warnings: string[] = [];
    const fetch = createNodeFetch({ insecure: true, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([INSECURE_WARNING]);
    expect(INSECURE_WARNING).toMatch(/WARNING: TLS certificate verification is OFF/);
    expect(await client(fetch).listZones()).toHaveLength(1);
  });

  it('sendense cs --ca FILE and --insecure', async () => {
    const bin = path.resolve(import.meta.dirname, '../bin/sendense.mjs');
    const keys = ['--api-key', sim.adminKeys.apiKey, '--secret-key', sim.adminKeys.secretKey, '--endpoint', served.endpoint];
    const ok = await run(process.execPath, [bin, 'cs', 'listZones', ...keys, '--ca', path.join(dir, 'ca.pem')], { timeoutMs: 60_000 });
    expect(JSON.parse(ok.stdout).count).toBe(1);
    const refused = await run(process.execPath, [bin, 'cs', 'listZones', ...keys], { okCodes: [1], timeoutMs: 60_000 });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/certificate/i);
    const insecure = await run(process.execPath, [bin, 'cs', 'listZones', ...keys, '--insecure'], { timeoutMs: 60_000 });
    expect(JSON.parse(insecure.stdout).count).toBe(1);
    expect(insecure.stderr).toContain('WARNING: TLS certificate verification is OFF');
  });
});
