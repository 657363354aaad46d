/**
 * The plug-in's files at /plugin/: index and assets with their types and caching, nothing outside
 * the build folder, a clear 503 without a build.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { pluginStatic } from './plugin-static.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'sendense-plugin-'));
mkdirSync(path.join(dir, 'dist', 'assets'), { recursive: true });
writeFileSync(path.join(dir, 'dist', 'index.html'), '<!doctype html><sd-app></sd-app>');
writeFileSync(path.join(dir, 'dist', 'assets', 'index-abc.js'), 'export {}');
writeFileSync(path.join(dir, 'secret.txt'), 'not for you');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const app = pluginStatic(path.join(dir, 'dist'));

it('serves index.html at /plugin/ (not cached) and the assets (cached)', async () => {
  const r = await app.request('/plugin/');
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(r.headers.get('cache-control')).toBe('no-cache');
  expect(r.headers.get('x-frame-options')).toBeNull();
  expect(await r.text()).toContain('<sd-app>');
  const a = await app.request('/plugin/assets/index-abc.js');
  expect(a.status).toBe(200);
  expect(a.headers.get('content-type')).toContain('text/javascript');
  expect(a.headers.get('cache-control')).toContain('immutable');
  const redirect = await app.request('/plugin');
  expect(redirect.status).toBe(301);
  // relative, so it works behind a proxy prefix (plugin-ui/test/proxy.test.ts goes through nginx)
  expect(redirect.headers.get('location')).toBe('plugin/');
});

it('serves nothing outside the build folder', async () => {
  for (const p of ['/plugin/../secret.txt', '/plugin/%2e%2e/secret.txt', '/plugin/assets/%2e%2e%2f%2e%2e%2fsecret.txt', '/plugin/nope.js']) {
    const r = await app.request(p);
    expect(r.status, p).toBe(404);
    expect(await r.text()).not.toContain('not for you');
  }
});

it('says how to build the plug-in when there is no build', async () => {
  const r = await pluginStatic(path.join(dir, 'missing')).request('/plugin/');
  expect(r.status).toBe(503);
  expect(((await r.json()) as { error: { message: string } }).error.message).toContain('npm run build:plugin');
});

it('the control plane serves it at /plugin/, framable by the configured CloudStack UI origins only', async () => {
  const { makeFixture } = await import('../testing/fixture.ts');
  const before = process.env.SENDENSE_PLUGIN_DIR;
  process.env.SENDENSE_PLUGIN_DIR = path.join(dir, 'dist');
  const f = await makeFixture({ options: { uiOrigins: ['https://cloud.example.com'] } });
  try {
    const r = await f.cp.app.request('http://sendense.test/plugin/');
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('<sd-app>');
    expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'self' https://cloud.example.com");
    expect(r.headers.get('x-frame-options')).toBeNull();
  } finally {
    await f.close();
    if (before === undefined) delete process.env.SENDENSE_PLUGIN_DIR;
    else process.env.SENDENSE_PLUGIN_DIR = before;
  }
});
