/**
 * Single sign-on through a same-origin reverse proxy (issue 10 §1): a real nginx (Debian's,
 * started here in a temp dir on loopback ports, no systemd) serves CloudStack's /client/ (the
 * simulator on a real socket) and, with the shipped snippet packaging/nginx/sendense-plugin.conf,
 * /client/sendense/ (the control plane on a real socket). A browser-like client signs in
 * to CloudStack once; its JSESSIONID cookie (Path /client) and the sessionkey CloudStack's UI keeps
 * become a Sendense token through the proxy, and the API answers with the user's VMs only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveSimulator, type ServedSimulator } from '../cloudstack-sim/serve.ts';
import { makeFixture, type Fixture } from '../testing/fixture.ts';

const SNIPPET = path.resolve(import.meta.dirname, '../../packaging/nginx/sendense-plugin.conf');
const NGINX = '/usr/sbin/nginx';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
}

/** A browser's cookie jar, as far as CloudStack's cookies need: name, value, Path (default: the request's directory). */
class Jar {
  readonly cookies = new Map<string, { value: string; path: string }>();
  take(res: Response, requestPath: string) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';').map((x) => x.trim());
      const eq = pair.indexOf('=');
      const p = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? requestPath.slice(0, requestPath.lastIndexOf('/'));
      if (attrs.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(pair.slice(0, eq));
      else this.cookies.set(pair.slice(0, eq), { value: pair.slice(eq + 1), path: p || '/' });
    }
  }
  header(reqPath: string): string {
    return [...this.cookies].filter(([, c]) => reqPath === c.path || reqPath.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)).map(([n, c]) => `${n}=${c.value}`).join('; ');
  }
}

let f: Fixture;
let sim: ServedSimulator;
let cpServer: ReturnType<typeof serve>;
let nginx: ChildProcess;
let dir: string;
let origin: string;
let nginxLog = '';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sendense-nginx-'));
  const proxyPort = await freePort();
  origin = `http://127.0.0.1:${proxyPort}`;
  f = await makeFixture({ options: { uiOrigins: [origin] } });
  sim = await serveSimulator(f.sim, { port: 0 });
  const cpPort = await new Promise<number>((resolve) => { cpServer = serve({ fetch: f.cp.fetch, port: 0, hostname: '127.0.0.1' }, (i) => resolve(i.port)); });
  writeFileSync(path.join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream sendense_control_plane { server 127.0.0.1:${cpPort}; keepalive 4; }
  server {
    listen 127.0.0.1:${proxyPort};
    # CloudStack's UI and API, as the usual TLS proxy in front of the management server
    location /client/ { proxy_pass http://127.0.0.1:${sim.port}; proxy_set_header Host $host; }
    include ${SNIPPET};
  }
}
`);
  nginx = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  nginx.stderr!.on('data', (d: Buffer) => { nginxLog += d.toString(); });
  const exited = new Promise<number | null>((r) => nginx.once('exit', r));
  for (let i = 0; ; i++) {
    try { await fetch(`${origin}/client/api/?command=listIdps&response=json`); break; } catch (e) {
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('running'), 100))]);
      if (code !== 'running') throw new Error(`nginx (${NGINX}) exited with ${String(code)}: ${nginxLog}${readLog()}`);
      if (i > 100) throw new Error(`nginx did not answer on ${origin}: ${(e as Error).message} ${nginxLog}${readLog()}`);
    }
  }
}, 60_000);

function readLog(): string {
  try { return readFileSync(path.join(dir, 'error.log'), 'utf8'); } catch { return ''; }
}

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const gone = new Promise((r) => nginx.once('exit', r));
    nginx.kill('SIGQUIT');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (nginx.exitCode === null) nginx.kill('SIGKILL');
  }
  await new Promise<void>((r) => { if (cpServer) cpServer.close(() => r()); else r(); });
  await sim?.close();
  await f?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('single sign-on behind nginx', () => {
  it('one CloudStack sign-in through the proxy; the plug-in gets a Sendense token for the same user and sees their VMs', async () => {
    const jar = new Jar();
    const ui = async (p: string, init: RequestInit & { headers?: Record<string, string> } = {}) => {
      const res = await fetch(`${origin}${p}`, { ...init, headers: { ...init.headers, cookie: jar.header(p.split('?')[0]) } });
      jar.take(res, p.split('?')[0]);
      return res;
    };
    // CloudStack's UI signs in: POST /client/api/ (trailing slash), as 4.22's UI does
    const login = await ui('/client/api/', { method: 'POST', body: 'command=login&username=alice&password=password&domain=%2Fcustomers&response=json', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(login.status).toBe(200);
    const { sessionkey, userid } = ((await login.json()) as { loginresponse: { sessionkey: string; userid: string } }).loginresponse;
    expect(jar.cookies.get('JSESSIONID')?.path).toBe('/client');
    // what the browser sends to the plug-in's path: JSESSIONID (Path /client) and userid, not the sessionkey cookie (Path /client/api)
    const sent = jar.header('/client/sendense/api/v1/auth/sso');
    expect(sent).toMatch(/JSESSIONID=/);
    expect(sent).not.toMatch(/sessionkey=/);
    expect(sent).toMatch(new RegExp(`userid=${userid}`));

    // the plug-in (same origin) reads the sessionkey CloudStack's UI keeps (localStorage primate__Access-Token) and asks for a token
    const sso = await ui('/client/sendense/api/v1/auth/sso', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-cloudstack-sessionkey': sessionkey } });
    const body = await sso.json() as { token: string; user: { username: string; role: string }; expiresAt: string };
    expect(sso.status, JSON.stringify(body)).toBe(200);
    expect(body.user).toMatchObject({ username: 'alice', role: 'user' });
    expect(sso.headers.get('content-security-policy')).toBe(`frame-ancestors 'self' ${origin}`);
    expect(sso.headers.get('x-frame-options')).toBeNull();

    const vms = await ui('/client/sendense/api/v1/vms', { headers: { authorization: `Bearer ${body.token}` } });
    expect(vms.status).toBe(200);
    expect(((await vms.json()) as { items: { name: string }[] }).items.map((v) => v.name).sort()).toEqual(['db-1', 'web-1']);

    // the CloudStack session still works for CloudStack's own UI (Sendense did not end it)
    const zones = await ui(`/client/api/?command=listZones&response=json&sessionkey=${encodeURIComponent(sessionkey)}`);
    expect(zones.status).toBe(200);

    // signed out of CloudStack: the session no longer gives a token
    await ui('/client/api/', { method: 'POST', body: `command=logout&response=json&sessionkey=${encodeURIComponent(sessionkey)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const after = await fetch(`${origin}/client/sendense/api/v1/auth/sso`, {
      method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-cloudstack-sessionkey': sessionkey, cookie: sent },
    });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: { code: string } }).error.code).toBe('session_invalid');
  });

  it('a request without a CloudStack session gets a 401 that says how to sign in', async () => {
    const res = await fetch(`${origin}/client/sendense/api/v1/auth/sso`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(401);
    const e = (await res.json()) as { error: { code: string; message: string } };
    expect(e.error.code).toBe('session_invalid');
    expect(e.error.message).toMatch(/JSESSIONID cookie and sessionkey/);
  });
});
