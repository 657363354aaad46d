/**
 * `sendense serve` end to end: the real bin as a subprocess, a config file and environment
 * variables, the CloudStack simulator served on loopback, the in-memory agent (agents.simulate);
 * sign in, list, back up, stop with SIGTERM, start again on the same database.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../agent/system/run.ts';
import { createSimulator } from './cloudstack-sim/app.ts';
import { serveSimulator } from './cloudstack-sim/serve.ts';

const BIN = path.resolve(import.meta.dirname, 'bin/sendense.mjs');
const dir = mkdtempSync(path.join(tmpdir(), 'sendense-serve-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listening line in 60 s: ${out}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (https?:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(t); resolve({ child, url: m[1], output: () => out }); }
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`exited ${code}: ${out}`)); });
  });
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

describe('sendense serve', () => {
  it('serves the API from a config file and the environment, and restarts on the same database', async () => {
    const sim = createSimulator({ asyncDelayMs: 20 });
    const served = await serveSimulator(sim);
    try {
      const config = path.join(dir, 'sendense.json');
      writeFileSync(config, JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        database: { path: path.join(dir, 'db', 'sendense.db') },
        cloudstack: { endpoint: 'http://127.0.0.1:1/client/api', apiKey: 'from-file', secretKey: 'from-file', insecure: true },
        repositories: [{ name: 'repo1', url: 'ssh://sendense-repo@127.0.0.1/srv/sendense', capacityBytes: 1e12 }],
        agents: { simulate: true },
        auth: { tokenSecret: 'a-long-enough-secret-for-the-tokens-0123' },
      }));
      // the environment wins: the real endpoint and keys come from it
      const env = { SENDENSE_CS_ENDPOINT: served.endpoint, SENDENSE_CS_API_KEY: sim.adminKeys.apiKey, SENDENSE_CS_SECRET_KEY: sim.adminKeys.secretKey };
      const a = await start(['--config', config], env);
      expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
      const login = await fetch(`${a.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'password' }) });
      expect(login.status).toBe(200);
      const { token } = (await login.json()) as { token: string };
      const auth = { authorization: `Bearer ${token}` };
      const vms = (await (await fetch(`${a.url}/api/v1/vms`, { headers: auth })).json()) as { total: number; items: { id: string; name: string }[] };
      expect(vms.total).toBe(3);
      const web = vms.items.find((v) => v.name === 'web-1')!;
      const job = (await (await fetch(`${a.url}/api/v1/vms/${web.id}/backups`, { method: 'POST', headers: auth })).json()) as { id: string };
      const events = await (await fetch(`${a.url}/api/v1/jobs/${job.id}/events`, { headers: auth })).text();
      expect(events).toMatch(/event: end\ndata: \{"status":"succeeded"\}/);
      // the simulated agent sees the VM's disks as discovered: the next backup is an incremental
      const second = (await (await fetch(`${a.url}/api/v1/vms/${web.id}/backups`, { method: 'POST', headers: auth })).json()) as { id: string; type: string };
      expect(second.type).toBe('incremental');
      // agent deployment is wired into serve (not 503): with no link key in this config a run is refused naming the file to make
      const run = await fetch(`${a.url}/api/v1/agents/status`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ addresses: ['nobody=127.0.0.1:1'], ssh: { user: 'root', password: 'not-used' } }) });
      expect(run.status).toBe(400);
      expect(((await run.json()) as { error: { message: string } }).error.message).toMatch(/link key .*ssh-keygen/);
      expect(await (await fetch(`${a.url}/api/v1/jobs/${second.id}/events`, { headers: auth })).text()).toMatch(/"status":"succeeded"/);
      const t0 = Date.now();
      a.child.kill('SIGTERM');
      expect(await exited(a.child)).toBe(0);
      // nothing keeps the process alive after a stop (timers, SSE keep-alives)
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(a.output()).toMatch(/in-memory agent/);

      // again on the same file: the token (same secret) and the point are still good
      const b = await start(['--config', config], env);
      const points = (await (await fetch(`${b.url}/api/v1/vms/${web.id}/restore-points`, { headers: auth })).json()) as { total: number };
      expect(points.total).toBe(2);
      b.child.kill('SIGINT');
      expect(await exited(b.child)).toBe(0);
    } finally {
      await served.close();
    }
  });

  it('a bad config exits 2 naming the problem; a missing file too', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ cloudstack: { endpoint: 'nope' }, repositories: [] }));
    const r = await run(process.execPath, [BIN, 'serve', '--config', bad], { okCodes: [2], timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cloudstack\.endpoint: must be an http\(s\) URL/);
    expect(r.stderr).toMatch(/repositories: name at least one repository/);
    const missing = await run(process.execPath, [BIN, 'serve', '--config', path.join(dir, 'none.json')], { okCodes: [2], timeoutMs: 60_000 });
    expect(missing.stderr).toMatch(/ENOENT/);
  });

  const baseConfig = (extra: Record<string, unknown> = {}) => ({
    listen: { host: '127.0.0.1', port: 0 },
    database: { path: path.join(dir, `db-${Math.random().toString(36).slice(2)}`, 'sendense.db') },
    cloudstack: { endpoint: 'http://127.0.0.1:1/client/api', apiKey: 'k', secretKey: 's', insecure: true },
    repositories: [{ name: 'repo1', url: 'ssh://sendense-repo@127.0.0.1/srv/sendense' }],
    agents: { simulate: true },
    discovery: { intervalSeconds: 3600 },
    ...extra,
  });
  const writeConfig = (name: string, c: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(c), { mode: 0o600 });
    return file;
  };

  it('TLS: listens with the configured certificate (https only)', async () => {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const s = await start(['--config', writeConfig('tls.json', baseConfig({ listen: { host: '127.0.0.1', port: 0, tls: { certFile: cert, keyFile: key } } }))], {});
    try {
      expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(`${s.url}/healthz`, { ca: readFileSync(cert) }, (res) => {
          let t = '';
          res.on('data', (d: Buffer) => { t += d.toString(); });
          res.on('end', () => resolve(`${res.statusCode} ${t}`));
        });
        req.on('error', reject);
        req.end();
      });
      expect(body).toMatch(/^(200|503) \{"status":"(ok|degraded)","instance":"[^"]+"\}$/);
      // plain HTTP on the TLS port is not answered as HTTP
      await expect(fetch(s.url.replace('https:', 'http:') + '/healthz', { signal: AbortSignal.timeout(5000) }).then((r) => r.status)).rejects.toThrow();
    } finally {
      s.child.kill('SIGTERM');
      await exited(s.child);
    }
  });

  it('refuses plain HTTP off loopback without --insecure-http, an http:// CloudStack without insecure, and secret files others may read', async () => {
    const offLoopback = writeConfig('open.json', baseConfig({ listen: { host: '0.0.0.0', port: 0 } }));
    const r1 = await run(process.execPath, [BIN, 'serve', '--config', offLoopback], { okCodes: [1], timeoutMs: 60_000 });
    expect(r1.stderr).toMatch(/0\.0\.0\.0 is not a loopback address and no TLS is configured.*--insecure-http/);

    const plain = baseConfig();
    const http = writeConfig('http.json', { ...plain, cloudstack: { ...(plain.cloudstack as object), insecure: false } });
    const r2 = await run(process.execPath, [BIN, 'serve', '--config', http], { okCodes: [2], timeoutMs: 60_000 });
    expect(r2.stderr).toMatch(/cloudstack\.endpoint http:\/\/127\.0\.0\.1:1\/client\/api is plain http.*cloudstack\.insecure: true/);

    const secret = path.join(dir, 'token.secret');
    writeFileSync(secret, 'x'.repeat(48));
    chmodSync(secret, 0o644);
    const open = writeConfig('secret.json', baseConfig({ auth: { tokenSecretFile: secret } }));
    const r3 = await run(process.execPath, [BIN, 'serve', '--config', open], { okCodes: [1], timeoutMs: 60_000 });
    expect(r3.stderr).toMatch(/auth\.tokenSecretFile .*token\.secret is readable by others \(mode 0644\): chmod 600/);
    chmodSync(secret, 0o600);
    const ok = await start(['--config', open], {});
    ok.child.kill('SIGTERM');
    expect(await exited(ok.child)).toBe(0);
  });
});
