/**
 * The plug-in's browser test kit: builds the plug-in with Vite into a folder of the test's own,
 * serves it at /plugin/ in front of a control plane's fetch handler (another origin than the host
 * page), serves a CloudStack-like host page (left menu, the plug-in in a 90vh iframe), launches
 * Debian's Chromium through playwright-core (missing Chromium fails, it never skips), runs
 * axe-core inside the plug-in's frame, and writes screenshots to test/artifacts/screenshots/.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { build } from 'vite';
import { chromium, type Browser, type BrowserContext, type Frame, type Page } from 'playwright-core';
import axe from 'axe-core';
import { pluginStatic } from '../../api/http/plugin-static.ts';
import { serveHostPage } from '../../api/cli/demo-host.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const SCREENSHOTS = path.join(ROOT, 'test', 'artifacts', 'screenshots');
const CHROMIUM = '/usr/bin/chromium';

/**
 * Builds the plug-in into a fresh folder (each test file its own: files run in parallel);
 * `harness`: the component tests' page too (test/harness/index.html → /plugin/test/harness/).
 */
export async function buildPlugin(o: { harness?: boolean } = {}): Promise<string> {
  const outDir = path.join(mkdtempSync(path.join(tmpdir(), 'sendense-plugin-build-')), 'dist');
  const ui = path.join(ROOT, 'plugin-ui');
  const input = o.harness ? { index: path.join(ui, 'index.html'), harness: path.join(ui, 'test', 'harness', 'index.html') } : undefined;
  await build({ configFile: path.join(ui, 'vite.config.ts'), build: { outDir, emptyOutDir: true, sourcemap: false, ...(input ? { rollupOptions: { input } } : {}) }, logLevel: 'error' });
  return outDir;
}

export interface Served { url: string; close(): Promise<void> }

function listen(server: ServerType): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    (server as Server).listen(0, '127.0.0.1', () => resolve(((server as Server).address() as AddressInfo).port));
  });
}

/** the plug-in at /plugin/ and the control plane's API behind it, on 127.0.0.1 */
export async function servePlugin(dist: string, apiFetch: (req: Request) => Response | Promise<Response>): Promise<Served> {
  const app = new Hono().route('/', pluginStatic(dist)).all('*', (c) => apiFetch(c.req.raw));
  const server = createAdaptorServer({ fetch: app.fetch });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server as Server) };
}

function closeServer(s: Server): Promise<void> {
  return new Promise((r) => { s.close(() => r()); s.closeAllConnections(); });
}

/** a CloudStack-4.2x-like page on http://localhost:PORT (the one `sendense demo` serves): its left menu, and the plug-in route as CloudStack renders it */
export async function serveHost(pluginUrl: string): Promise<Served> {
  const page = await serveHostPage(pluginUrl);
  return { url: page.url, close: () => page.close() };
}

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`[plugin-ui test] ${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); browser tests never skip`);
  // playwright gives every launch a fresh profile (--user-data-dir in a new temp folder) itself
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

export async function newContext(browser: Browser, colorScheme: 'light' | 'dark' = 'light'): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 720 }, colorScheme, acceptDownloads: true });
}

/** the plug-in's frame inside the host page */
export async function pluginFrame(page: Page, pluginOrigin: string): Promise<Frame> {
  for (let i = 0; i < 100; i++) {
    const f = page.frames().find((x) => x.url().startsWith(pluginOrigin));
    if (f) { await f.waitForLoadState('domcontentloaded'); return f; }
    await page.waitForTimeout(100);
  }
  throw new Error(`[plugin-ui test] no frame from ${pluginOrigin} in ${page.url()}`);
}

export interface AxeViolation { id: string; impact: string | null; help: string; nodes: string[] }

/** axe-core inside the frame (its shadow roots included): serious and critical violations */
export async function seriousViolations(frame: Frame): Promise<AxeViolation[]> {
  await frame.evaluate(axe.source);
  const result = await frame.evaluate(async () => {
    const r = await (globalThis as unknown as { axe: typeof axe }).axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact ?? null, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => String(n.target)) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}
