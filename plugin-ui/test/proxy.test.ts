/**
 * The plug-in's two sign-ins in real Chromium (issue 10 §1, §5) and its files behind a proxy
 * prefix (§6):
 * - same origin: Debian's nginx (started here, loopback, no systemd) serves CloudStack's /client/
 *   (the simulator on a real socket), a CloudStack-like host page at /client/ that signs in to
 *   CloudStack as its UI does (POST /client/api/, the sessionkey kept in
 *   localStorage["primate__Access-Token"], the JSESSIONID cookie on Path /client) and frames the
 *   plug-in at /client/sendense/plugin/ through the shipped snippet
 *   (packaging/nginx/sendense-plugin.conf): the plug-in signs in by itself (single sign-on), no
 *   sign-in form, and shows that user's VMs only;
 * - `/client/sendense/plugin` (no slash) redirects relative to where it is served, so through the
 *   prefix it lands on /client/sendense/plugin/ (the control plane never sees the prefix);
 * - other origin: carol, a CloudStack user with TOTP two-factor sign-in, signs in in the plug-in's
 *   own form, gets CloudStack's code step, types her authenticator's current code and sees her VM;
 *   a wrong code goes back to the password step, keeping what was typed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Frame, Page } from 'playwright-core';
import { serveSimulator, type ServedSimulator } from '../../api/cloudstack-sim/serve.ts';
import { totpCode } from '../../api/cloudstack-sim/totp.ts';
import { DEMO_TOTP_KEY } from '../../api/cloudstack-sim/demo-world.ts';
import { makeFixture, testWorld, type Fixture } from '../../api/testing/fixture.ts';
import { serveHostPage, type HostPage } from '../../api/cli/demo-host.ts';
import { buildPlugin, launch, newContext, pluginFrame, seriousViolations, screenshot, servePlugin, type Served } from './browser.ts';

const SNIPPET = path.resolve(import.meta.dirname, '../../packaging/nginx/sendense-plugin.conf');
const NGINX = '/usr/sbin/nginx';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
}

/** CloudStack's UI as far as the plug-in needs it: sign in through /client/api/, keep the sessionkey, show the plug-in's menu route */
const HOST_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>CloudStack</title></head><body>
<nav aria-label="CloudStack"><a href="#/plugins/VM%20protection">VM protection</a></nav><main id="content"></main>
<script>
(async () => {
  const q = new URLSearchParams(location.search);
  const body = new URLSearchParams({ command: 'login', username: q.get('user'), password: 'password', domain: q.get('domain'), response: 'json' });
  const res = await fetch('/client/api/', { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const r = (await res.json()).loginresponse;
  localStorage.setItem('primate__Access-Token', JSON.stringify({ value: r.sessionkey, expire: null }));
  const f = document.createElement('iframe');
  f.src = '/client/sendense/plugin';
  f.title = 'VM protection';
  f.style.cssText = 'height:90vh;width:100%;border:none';
  document.getElementById('content').append(f);
})();
</script></body></html>`;

let f: Fixture;
let sim: ServedSimulator;
let plugin: Served;
let otherHost: HostPage;
let nginx: ChildProcess;
let dir: string;
let dist: string;
let origin: string;
let browser: Browser;
let nginxLog = '';
let afterDiag = () => '';

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sendense-plugin-proxy-'));
  const proxyPort = await freePort();
  origin = `http://127.0.0.1:${proxyPort}`;
  const [d, b] = await Promise.all([buildPlugin(), launch()]);
  dist = d;
  browser = b;
  const state = testWorld();
  const carol = state.users.find((u) => u.username === 'carol')!;
  carol.twoFactor = { provider: 'totp', key: DEMO_TOTP_KEY };
  // the other-origin host page (http://localhost:PORT): the plug-in's URL is known once it is served
  otherHost = await serveHostPage(() => `${plugin.url}/plugin/`);
  f = await makeFixture({ state, options: { uiOrigins: [origin, otherHost.origin] } });
  sim = await serveSimulator(f.sim, { port: 0 });
  plugin = await servePlugin(dist, (req) => f.cp.app.fetch(req));
  const cpPort = Number(new URL(plugin.url).port);
  // nginx's workers (not root) read the host page: its folder and file world-readable
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'www', 'client'), { recursive: true, mode: 0o755 });
  writeFileSync(path.join(dir, 'www', 'client', 'index.html'), HOST_PAGE, { mode: 0o644 });
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
    # CloudStack's UI page and its API, as the usual TLS proxy in front of the management server
    location = /client/ { root ${dir}/www; default_type text/html; try_files /client/index.html =404; }
    location /client/ { proxy_pass http://127.0.0.1:${sim.port}; proxy_set_header Host $host; }
    include ${SNIPPET};
  }
}
`);
  nginx = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  nginx.stderr!.on('data', (x: Buffer) => { nginxLog += x.toString(); });
  const exited = new Promise<number | null>((r) => nginx.once('exit', r));
  for (let i = 0; ; i++) {
    try { await fetch(`${origin}/client/api/?command=listIdps&response=json`); break; } catch (e) {
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('running'), 100))]);
      if (code !== 'running') throw new Error(`nginx (${NGINX}) exited with ${String(code)}: ${nginxLog}${readLog()}`);
      if (i > 100) throw new Error(`nginx did not answer on ${origin}: ${(e as Error).message} ${nginxLog}${readLog()}`);
    }
  }
}, 180_000);

function readLog(): string {
  try { return readFileSync(path.join(dir, 'error.log'), 'utf8'); } catch { return ''; }
}

afterAll(async () => {
  await browser?.close();
  if (nginx && nginx.exitCode === null) {
    const gone = new Promise((r) => nginx.once('exit', r));
    nginx.kill('SIGQUIT');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (nginx.exitCode === null) nginx.kill('SIGKILL');
  }
  await otherHost?.close();
  await plugin?.close();
  await sim?.close();
  await f?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (dist) rmSync(path.dirname(dist), { recursive: true, force: true });
});

async function vmNames(frame: Frame): Promise<string[]> {
  await frame.evaluate(() => { location.hash = '#/vms'; });
  const rows = frame.locator('sd-vms tr[data-vm]');
  await rows.first().waitFor({ timeout: 20_000 });
  return (await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-vm') ?? ''))).sort();
}

describe('behind the same-origin proxy (nginx, the shipped snippet)', () => {
  it('/client/sendense/plugin redirects relative to where it is served: /client/sendense/plugin/', async () => {
    const res = await fetch(`${origin}/client/sendense/plugin`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    const loc = res.headers.get('location')!;
    expect(new URL(loc, `${origin}/client/sendense/plugin`).href).toBe(`${origin}/client/sendense/plugin/`);
    const followed = await fetch(`${origin}/client/sendense/plugin`);
    expect(followed.url).toBe(`${origin}/client/sendense/plugin/`);
    expect(await followed.text()).toMatch(/<sd-app/);
  });

  for (const [user, domain, names] of [['alice', '/customers', ['db-1', 'web-1']], ['dadmin', '/customers', ['bob-1', 'db-1', 'web-1']]] as const) {
    it(`single sign-on in Chromium: ${user} signed in to CloudStack's page, the plug-in in its iframe signs in by itself and shows ${user}'s VMs`, async () => {
      const ctx = await newContext(browser);
      try {
        const page: Page = await ctx.newPage();
        const ssoAnswers: number[] = [];
        page.on('response', (r) => { if (r.url().endsWith('/client/sendense/api/v1/auth/sso')) ssoAnswers.push(r.status()); });
        const seen: string[] = [];
        page.on('console', (m) => seen.push(m.text()));
        page.on('pageerror', (e) => seen.push(e.message));
        page.on('response', (r) => seen.push(`${r.status()} ${r.url()}`));
        afterDiag = () => seen.join('\n');
        await page.goto(`${origin}/client/?user=${user}&domain=${encodeURIComponent(domain)}`);
        const frame = await pluginFrame(page, `${origin}/client/sendense/plugin/`).catch((e: Error) => { throw new Error(`${e.message}\n${afterDiag()}`); });
        await frame.locator('[data-testid=who]').waitFor({ timeout: 20_000 });
        expect(await frame.locator('[data-testid=who]').textContent()).toContain(user);
        expect(frame.url()).toBe(`${origin}/client/sendense/plugin/`);
        expect(ssoAnswers).toEqual([200]);
        expect(await frame.locator('sd-sign-in').count()).toBe(0);
        expect(await vmNames(frame)).toEqual([...names]);
        if (user === 'alice') {
          await screenshot(page, 'sso-proxy-light');
          expect(await seriousViolations(frame)).toEqual([]);
        }
      } finally {
        await ctx.close();
      }
    });
  }
});

describe('another origin: CloudStack\'s two-factor step in the plug-in\'s own sign-in', () => {
  it('carol (TOTP): password, then the code step; a wrong code goes back to the password step; her current code signs her in', async () => {
    const ctx = await newContext(browser);
    try {
      const page = await ctx.newPage();
      await page.goto(otherHost.url);
      const frame = await pluginFrame(page, plugin.url);
      const signIn = async () => {
        await frame.locator('sd-sign-in #username').fill('carol');
        await frame.locator('sd-sign-in #password').fill('password');
        await frame.locator('sd-sign-in #domain').fill('/other');
        await frame.locator('sd-sign-in button[type=submit]').click();
        await frame.locator('sd-sign-in #code').waitFor({ timeout: 15_000 });
      };
      await signIn();
      await screenshot(page, 'sign-in-2fa-light');
      expect(await seriousViolations(frame)).toEqual([]);
      // a wrong code: CloudStack refuses and ends the half-open session; back to the password step, the user name kept
      await frame.locator('sd-sign-in #code').fill('000000');
      await frame.locator('sd-sign-in button[type=submit]').click();
      await frame.locator('[data-testid=sign-in-error]').waitFor();
      await frame.locator('sd-sign-in #password').waitFor();
      expect(await frame.locator('sd-sign-in #username').inputValue()).toBe('carol');
      await signIn();
      await frame.locator('sd-sign-in #code').fill(totpCode(DEMO_TOTP_KEY, Date.now()));
      await frame.locator('sd-sign-in button[type=submit]').click();
      await frame.locator('[data-testid=who]').waitFor({ timeout: 15_000 });
      expect(await frame.locator('[data-testid=who]').textContent()).toContain('carol');
      expect(await vmNames(frame)).toEqual(['carol-1']);
    } finally {
      await ctx.close();
    }
  });
});
