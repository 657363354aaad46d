/**
 * Component tests in Chromium: each view alone on a page (test/harness/) under a context provider
 * whose API client is the real typed client over a fake fetch the test scripts. Every view shows
 * its loading state while the API has not answered, its empty state, the API's own message on an
 * error with a retry that asks again, and the permission-denied state on a 403; lists send their
 * search, filter and page to the server.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { buildPlugin, launch, newContext, servePlugin, type Served } from './browser.ts';

let dist: string;
let served: Served;
let browser: Browser;
let page: Page;

const VM = 'bd1d5e4e-2a43-4f6e-9a55-0d5f3e0f6c11';
const admin = { userId: 'u1', username: 'admin', account: 'admin', accountId: 'a1', domainId: 'd1', role: 'root-admin', via: 'token' };
const alice = { ...admin, username: 'alice', account: 'alice', role: 'user' };
const page0 = (items: unknown[] = []) => ({ items, total: items.length, limit: 100, offset: 0 });
const overview0 = {
  vms: { total: 0, protected: 0, unprotected: 0, failing: 0 },
  jobs24h: { total: 0, succeeded: 0, failed: 0, cancelled: 0, running: 0, since: new Date().toISOString() },
  trend: [],
};
/** bodies answered 200 */
const ok200 = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).map(([k, body]) => [k, { status: 200, body }]));

/** per view: its tag, its props and the requests its first load makes */
const VIEWS: { tag: string; props?: Record<string, unknown>; calls: string[]; empty: Record<string, unknown>; emptyText: string }[] = [
  { tag: 'sd-vms', props: { query: {} }, calls: ['GET /api/v1/vms'], empty: { 'GET /api/v1/vms': page0() }, emptyText: 'No VMs match.' },
  { tag: 'sd-history', props: { query: {} }, calls: ['GET /api/v1/jobs'], empty: { 'GET /api/v1/jobs': page0() }, emptyText: 'No jobs match.' },
  { tag: 'sd-policies', calls: ['GET /api/v1/policies'], empty: { 'GET /api/v1/policies': { items: [] } }, emptyText: 'No policies yet.' },
  { tag: 'sd-infrastructure', calls: ['GET /api/v1/hosts', 'GET /api/v1/repositories', 'GET /api/v1/audit'],
    empty: { 'GET /api/v1/hosts': { items: [] }, 'GET /api/v1/repositories': { items: [] }, 'GET /api/v1/audit': { items: [], limit: 50, offset: 0 } }, emptyText: 'Nothing here yet.' },
  { tag: 'sd-overview', calls: ['GET /api/v1/overview'], empty: { 'GET /api/v1/overview': overview0, 'GET /api/v1/repositories': { items: [] }, 'GET /api/v1/agents': { items: [] } }, emptyText: '' },
  { tag: 'sd-vm', props: { vmId: VM }, calls: [`GET /api/v1/vms/${VM}`, `GET /api/v1/vms/${VM}/restore-points`],
    empty: {
      [`GET /api/v1/vms/${VM}`]: { id: VM, name: 'web-1', displayName: 'web-1', instanceName: null, state: 'Running', zoneId: null, zoneName: null, hostId: null, hostName: null, account: 'alice', domainId: 'd1', domainPath: '/customers', serviceOffering: null, template: null, tags: [], lastSeenAt: new Date().toISOString(), removedAt: null, disks: [], policy: null, restorePoints: 0, lastJob: null },
      [`GET /api/v1/vms/${VM}/restore-points`]: page0(),
    }, emptyText: 'No restore points yet' },
];

beforeAll(async () => {
  const [d, b] = await Promise.all([buildPlugin({ harness: true }), launch()]);
  dist = d;
  browser = b;
  served = await servePlugin(dist, () => new Response('no API here: the harness fakes it', { status: 599 }));
  const ctx = await newContext(browser);
  page = await ctx.newPage();
  page.on('pageerror', (e) => { throw e; });
  await page.goto(`${served.url}/plugin/test/harness/index.html`);
  await page.waitForFunction(() => 'harness' in globalThis);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await served?.close();
  if (dist) rmSync(path.dirname(dist), { recursive: true, force: true });
});

async function mount(tag: string, props: Record<string, unknown> | undefined, user: unknown, answers: Record<string, unknown>) {
  await page.evaluate(([t, p, u, a]) => (globalThis as unknown as { harness: { mount(...x: unknown[]): void } }).harness.mount(t, p ?? {}, u, a), [tag, props, user, answers] as const);
}
const requests = () => page.evaluate(() => [...(globalThis as unknown as { harness: { requests: string[] } }).harness.requests]);

describe('every view: loading, empty, error, denied', () => {
  for (const v of VIEWS) {
    it(v.tag, async () => {
      const hang = Object.fromEntries(v.calls.map((c) => [c, 'hang']));
      await mount(v.tag, v.props, admin, hang);
      await page.locator(`${v.tag} [data-state=loading]`).first().waitFor();

      await mount(v.tag, v.props, admin, ok200(v.empty));
      if (v.emptyText) await page.locator(`${v.tag}`).getByText(v.emptyText).first().waitFor();
      else await page.locator(`${v.tag} [data-testid=stat-vms]`).waitFor();

      const broken = { ...ok200(v.empty), [v.calls[0]]: { status: 502, body: { error: { code: 'agent_failed', message: 'the agent on kvm1 did not answer' } } } };
      await mount(v.tag, v.props, admin, broken);
      const err = page.locator(`${v.tag} [data-state=error]`).first();
      await err.waitFor();
      expect(await err.textContent()).toContain('the agent on kvm1 did not answer');
      const before = (await requests()).length;
      await err.getByRole('button', { name: 'Try again' }).click();
      await expect.poll(async () => (await requests()).length).toBeGreaterThan(before);

      const denied = { ...ok200(v.empty), [v.calls[0]]: { status: 403, body: { error: { code: 'forbidden', message: 'alice may not see this' } } } };
      await mount(v.tag, v.props, alice, denied);
      const d = page.locator(`${v.tag} [data-state=denied]`).first();
      await d.waitFor();
      expect(await d.textContent()).toContain('alice may not see this');
    });
  }
});

describe('lists ask the server', () => {
  it('the VM list sends its search and page; the history its status filter', async () => {
    await mount('sd-vms', { query: { search: 'web', page: '3' } }, admin, { 'GET /api/v1/vms': { status: 200, body: { items: [], total: 0, limit: 20, offset: 40 } } });
    await page.locator('sd-vms').getByText('No VMs match.').waitFor();
    expect((await requests()).find((r) => r.startsWith('GET /api/v1/vms'))).toMatch(/limit=20.*offset=40.*search=web|search=web.*offset=40/);
    // filters and sort from the URL go to the server as they are; an unknown value is left out, never sent
    await mount('sd-vms', { query: { protection: 'failing', platform: 'vmware', account: 'alice', sort: 'lastBackup', order: 'desc' } }, admin, { 'GET /api/v1/vms': { status: 200, body: { items: [], total: 0, limit: 20, offset: 0 } } });
    await page.locator('sd-vms').getByText('No VMs match.').waitFor();
    const q = new URLSearchParams((await requests()).filter((r) => r.startsWith('GET /api/v1/vms')).at(-1)!.split('?')[1]);
    expect(Object.fromEntries(q)).toEqual({ limit: '20', offset: '0', sort: 'lastBackup', order: 'desc', protection: 'failing', platform: 'vmware', account: 'alice' });
    await mount('sd-vms', { query: { protection: 'safe', sort: 'size' } }, admin, { 'GET /api/v1/vms': { status: 200, body: { items: [], total: 0, limit: 20, offset: 0 } } });
    await page.locator('sd-vms').getByText('No VMs match.').waitFor();
    expect((await requests()).filter((r) => r.startsWith('GET /api/v1/vms')).at(-1)).not.toMatch(/protection|size/);
    await mount('sd-history', { query: { status: 'failed', kind: 'restores' } }, admin, { 'GET /api/v1/restores': { status: 200, body: page0() } });
    await page.locator('sd-history').getByText('No jobs match.').waitFor();
    expect((await requests()).find((r) => r.startsWith('GET /api/v1/restores'))).toContain('status=failed');
  });

  it('a policy form checks as typed and shows the API\'s refusal', async () => {
    await mount('sd-policies', {}, admin, {
      'GET /api/v1/policies': { status: 200, body: { items: [] } },
      'POST /api/v1/policies': { status: 400, body: { error: { code: 'bad_request', message: 'timezone: unknown time zone Mars/Olympus' } } },
    });
    await page.getByRole('button', { name: 'New policy' }).click();
    await page.locator('#pf-name').fill('gold');
    await page.locator('#pf-keepLast').fill('0');
    expect(await page.locator('#pf-keepLast + .invalid').textContent()).toContain('1 or more');
    await page.locator('#pf-keepLast').fill('7');
    await page.locator('#pf-timezone').fill('Mars/Olympus');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('sd-policies [role=alert]').getByText('unknown time zone Mars/Olympus').waitFor();
    expect(await page.locator('#pf-name').inputValue()).toBe('gold');
  });
});
