/**
 * Framing and CORS (issue 10 §1): only the configured CloudStack UI origins may frame Sendense
 * (CSP frame-ancestors, no X-Frame-Options) and call it from a browser (CORS).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { makeFixture, type Fixture } from '../testing/fixture.ts';
import { framing, normalizeOrigin } from './framing.ts';

let f: Fixture | undefined;
afterEach(async () => { await f?.close(); f = undefined; });

const UI = 'https://cloud.example.com';

describe('framing and CORS', () => {
  it("frame-ancestors names only 'self' and the configured origins; no X-Frame-Options, even over a route that sets one", async () => {
    f = await makeFixture({ options: { uiOrigins: [`${UI}/`, 'http://127.0.0.1:8080'] } });
    const res = await f.req('GET', '/healthz');
    expect(res.headers.get('content-security-policy')).toBe(`frame-ancestors 'self' ${UI} http://127.0.0.1:8080`);
    expect(res.headers.get('x-frame-options')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const app = new Hono().use('*', framing({ uiOrigins: [UI] })).get('/plugin/', (c) => c.html('<p>x</p>', 200, { 'x-frame-options': 'SAMEORIGIN' }));
    const page = await app.request('/plugin/');
    expect(page.headers.get('x-frame-options')).toBeNull();
    expect(page.headers.get('content-security-policy')).toBe(`frame-ancestors 'self' ${UI}`);
  });

  it('CORS only for the configured origins: simple requests, preflights, and a 403 preflight for others', async () => {
    f = await makeFixture({ options: { uiOrigins: [UI] } });
    const token = await f.login('admin');
    const ok = await f.req('GET', '/api/v1/vms', { token, headers: { origin: UI } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI);
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    expect(ok.headers.get('vary')).toMatch(/Origin/);
    const evil = await f.req('GET', '/api/v1/vms', { token, headers: { origin: 'https://evil.example' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const pre = await f.req('OPTIONS', '/api/v1/vms/x/backups', { headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(UI);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const bad = await f.req('OPTIONS', '/api/v1/vms', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/not a configured CloudStack UI origin \(plugin.uiOrigins\)/);
    // an error answer carries the CORS header too, so the plug-in can read its message
    const denied = await f.req('GET', '/api/v1/vms', { headers: { origin: UI } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(UI);
  });

  it('without configured origins only the same origin may frame, and there is no CORS', async () => {
    f = await makeFixture();
    const res = await f.req('GET', '/healthz', { headers: { origin: UI } });
    expect(res.headers.get('content-security-policy')).toBe("frame-ancestors 'self'");
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses what is not an origin', () => {
    expect(normalizeOrigin('HTTPS://Cloud.Example.com:443/')).toBe('https://cloud.example.com');
    expect(() => normalizeOrigin('cloud.example.com')).toThrow(/is not an origin/);
    expect(() => normalizeOrigin('https://cloud.example.com/client/')).toThrow(/no path/);
    expect(() => normalizeOrigin('ftp://x')).toThrow(/is not an origin/);
  });
});
