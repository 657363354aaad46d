/**
 * The plug-in in real Chromium, inside a CloudStack-like host page on another origin, against a
 * control plane on the in-memory CloudStack simulator and the in-memory agent (api/testing/
 * fixture.ts: real SQLite, real routes). Each role sees exactly its VMs; back up now with live
 * progress to the end, the new point, verify, retention preview and apply, restore as new volume
 * and in place, download; a failing backup shows its error; an expired token returns to the
 * sign-in without losing what was typed; permission denied; every view screenshotted in light and
 * dark and checked with axe-core (no serious violations). The real stack: e2e.test.ts.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { MemoryAgentGateway } from '../../api/agents/memory.ts';
import { makeFixture, testWorld, type Fixture } from '../../api/testing/fixture.ts';
import type { Simulator } from '../../api/cloudstack-sim/app.ts';
import { targetOfDevice } from '../../api/agents/targets.ts';
import { buildPlugin, launch, newContext, pluginFrame, screenshot, seriousViolations, serveHost, servePlugin, type Served } from './browser.ts';

let dist: string;
let f: Fixture;
let plugin: Served;
let host: Served;
let browser: Browser;
const failingVm = { id: '' };
let refuseTokens = false;

beforeAll(async () => {
  const [d, b] = await Promise.all([buildPlugin(), launch()]);
  dist = d;
  browser = b;
  // the memory agent: the simulator's disks at 1/1024 of their size, progress in 20 steps of 150 ms,
  // new volumes uploaded to the simulator's SSVM endpoint (as api/restore/restore.test.ts does)
  let sim: Simulator | undefined;
  const gateway = new MemoryAgentGateway({
    tickMs: 150, ticks: 20,
    disksOf: (req) => sim!.state.volumes.filter((v) => v.vmId === req.vmId).sort((a, b) => (a.deviceId ?? 0) - (b.deviceId ?? 0))
      .map((v) => ({ target: targetOfDevice(v.deviceId ?? 0), size: v.size / 1024 })),
    script: (_host, req, kind) => (kind === 'backup' && 'vmId' in req && req.vmId === failingVm.id
      ? { fail: { code: 'libvirt', message: 'domain i-2-11-VM: backup-begin failed: disk vda is busy', atTick: 3 } } : undefined),
    upload: async (dest, image) => {
      const form = new FormData();
      form.append('file', new Blob([await new Response(image.stream).arrayBuffer()]), `image.${image.format}`);
      const body = new Response(form);
      const bytes = new Uint8Array(await body.arrayBuffer());
      const res = await sim!.fetch(dest.url, {
        method: 'POST', body: bytes,
        headers: { ...dest.headers, 'content-type': body.headers.get('content-type')!, 'content-length': String(bytes.byteLength) },
      });
      if (!res.ok) throw new Error(`SSVM answered ${res.status}: ${await res.text()}`);
    },
  });
  f = await makeFixture({ state: testWorld(), gateway });
  sim = f.sim;
  await f.cp.heartbeat();
  plugin = await servePlugin(dist, (req) => {
    if (!refuseTokens || !req.headers.has('authorization')) return f.cp.app.fetch(req);
    const headers = new Headers(req.headers);
    headers.set('authorization', 'Bearer eyJub3QiOiJzaWduZWQifQ.AAAA');
    return f.cp.app.fetch(new Request(req, { headers }));
  });
  host = await serveHost(`${plugin.url}/plugin/`);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await host?.close();
  await plugin?.close();
  await f?.close();
  if (dist) rmSync(path.dirname(dist), { recursive: true, force: true });
});

async function open(ctx: BrowserContext, hash = ''): Promise<{ page: Page; frame: Frame }> {
  const page = await ctx.newPage();
  await page.goto(host.url);
  const frame = await pluginFrame(page, plugin.url);
  if (hash) await frame.evaluate((h) => { location.hash = h; }, hash);
  return { page, frame };
}

async function signIn(frame: Frame, username: string, domain: string, password = 'password') {
  await frame.locator('sd-sign-in #username').fill(username);
  await frame.locator('sd-sign-in #password').fill(password);
  await frame.locator('sd-sign-in #domain').fill(domain);
  await frame.locator('sd-sign-in button[type=submit]').click();
}

async function signOut(frame: Frame) {
  await frame.getByRole('button', { name: 'Sign out' }).click();
  await frame.locator('sd-sign-in #username').waitFor();
}

async function go(frame: Frame, hash: string) {
  await frame.evaluate((h) => { location.hash = h; }, hash);
}

async function vmNames(frame: Frame): Promise<string[]> {
  await go(frame, '#/vms');
  const rows = frame.locator('sd-vms tr[data-vm]');
  await rows.first().waitFor();
  return (await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-vm') ?? ''))).sort();
}

describe('the plug-in in Chromium (in-memory CloudStack and agent)', () => {
  let ctx: BrowserContext;
  let frame: Frame;
  let page: Page;
  beforeAll(async () => {
    ctx = await newContext(browser);
    ({ page, frame } = await open(ctx));
  });
  afterAll(async () => { await ctx?.close(); });

  it('a wrong password shows CloudStack\'s refusal and keeps what was typed; an empty field is flagged as typed', async () => {
    await frame.locator('sd-sign-in #username').fill('alice');
    await frame.locator('sd-sign-in #password').fill('');
    await frame.locator('sd-sign-in #password').blur();
    await expect.poll(() => frame.locator('sd-sign-in #password-msg').textContent()).toContain('Password is required');
    await signIn(frame, 'alice', '/customers/', 'wrong');
    const err = frame.locator('[data-testid=sign-in-error]');
    await err.waitFor();
    expect((await err.textContent())?.length).toBeGreaterThan(5);
    expect(await frame.locator('sd-sign-in #username').inputValue()).toBe('alice');
    expect(await frame.locator('sd-sign-in #domain').inputValue()).toBe('/customers/');
  });

  it('user, domain admin and root admin each see exactly their VMs', async () => {
    await signIn(frame, 'alice', '/customers/');
    await frame.locator('[data-testid=who]').waitFor();
    expect(await frame.locator('[data-testid=who]').textContent()).toContain('alice (user)');
    expect(await vmNames(frame)).toEqual(['db-1', 'web-1']);
    await signOut(frame);
    await signIn(frame, 'dadmin', '/customers/');
    await frame.locator('[data-testid=who]').waitFor();
    expect(await vmNames(frame)).toEqual(['bob-1', 'db-1', 'web-1']);
    await signOut(frame);
    await signIn(frame, 'admin', '/');
    await frame.locator('[data-testid=who]').waitFor();
    expect(await vmNames(frame)).toEqual(['bob-1', 'carol-1', 'db-1', 'infra-1', 'web-1']);
    // server-side search
    await frame.locator('#vm-search').fill('carol');
    await expect.poll(async () => (await frame.locator('sd-vms tr[data-vm]').evaluateAll((els) => els.map((e) => e.getAttribute('data-vm')))).join(','), { timeout: 10_000 }).toBe('carol-1');
    await frame.locator('#vm-search').fill('');
  });

  it('back up now: live progress to the end, the new point, verify, retention preview and apply', async () => {
    const id = f.vmId('web-1');
    await go(frame, `#/vms/${id}`);
    await frame.locator('sd-vm').getByRole('button', { name: 'Back up now' }).click();
    await frame.getByRole('radio', { name: 'Full', exact: true }).check();
    await frame.getByRole('button', { name: 'Start backup' }).click();
    const progress = frame.locator('sd-vm [data-testid=progress-text]');
    await progress.waitFor({ timeout: 20_000 });
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const t = await progress.textContent({ timeout: 200 }).catch(() => null);
      if (t) seen.add(t.split(' %')[0]);
      if (await frame.locator('sd-vm [data-outcome=succeeded]').count()) break;
      await page.waitForTimeout(100);
    }
    expect(seen.size, `progress values seen: ${[...seen].join(', ')}`).toBeGreaterThan(2);
    await frame.locator('sd-vm [data-outcome=succeeded]').waitFor();
    expect(await frame.locator('sd-vm [data-outcome=succeeded]').textContent()).toContain('full point');
    await frame.locator('sd-backup-dialog').getByRole('button', { name: 'Close' }).click();
    const rows = frame.locator('sd-vm tr[data-point]');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(1);
    // web-1 has two disks: a lane each, one full image in each
    expect(await frame.locator('sd-vm .lane').count()).toBe(2);
    expect(await frame.locator('sd-vm .lane .pt.full').count()).toBe(2);
    // a second backup for the retention to work on
    await f.cp.runner.settled((await (await f.req('POST', `/api/v1/vms/${id}/backups`, { token: await f.login('admin'), body: { mode: 'auto' } })).json() as { id: string }).id);
    // verify now: the point ends up verified
    await go(frame, '#/vms');
    await go(frame, `#/vms/${id}`);
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    await frame.locator('sd-vm tr[data-point]').last().getByRole('button', { name: 'Verify now' }).click();
    await frame.getByText(/Verification started/).waitFor();
    await expect.poll(async () => frame.locator('sd-vm tr[data-point] [data-status=verified]').count(), { timeout: 30_000 }).toBe(1);
    // retention: a policy keeping 1 point, assigned to the VM, previewed and applied
    const token = await f.login('admin');
    const pol = await (await f.req('POST', '/api/v1/policies', { token, body: { name: 'keep-one', schedule: '0 3 * * *', retention: { keepLast: 1 } } })).json() as { id: string };
    await f.req('POST', `/api/v1/policies/${pol.id}/assignments`, { token, body: { kind: 'vm', vmId: id } });
    await frame.getByRole('button', { name: 'Preview retention' }).click();
    await frame.locator('sd-vm [data-testid=preview]').waitFor();
    await expect.poll(() => frame.locator('sd-vm [data-testid=preview] [data-status=keep]').count()).toBe(1);
    expect(await frame.locator('sd-vm [data-testid=preview] [data-status=delete], sd-vm [data-testid=preview] [data-status=merge]').count()).toBeGreaterThan(0);
    await frame.getByRole('button', { name: 'Apply retention now' }).click();
    await frame.getByText(/Retention started/).waitFor();
    await expect.poll(() => frame.locator('sd-vm tr[data-point]').count(), { timeout: 30_000 }).toBe(1);
  });

  it('restore as a new volume, in place behind a typed confirmation, and download a disk', async () => {
    const id = f.vmId('db-1');
    const token = await f.login('admin');
    const job = await (await f.req('POST', `/api/v1/vms/${id}/backups`, { token, body: { mode: 'full' } })).json() as { id: string };
    await f.cp.runner.settled(job.id);
    await go(frame, `#/vms/${id}`);
    const restoreBtn = frame.locator('sd-vm tr[data-point]').first().getByRole('button', { name: 'Restore' });
    await restoreBtn.click();
    const dlg = frame.locator('sd-restore-dialog');
    await dlg.getByRole('radio', { name: 'New volumes' }).check();
    await dlg.locator('#vol-name').fill('bad/name');
    expect(await dlg.locator('#vol-name-msg').textContent()).toContain('Letters');
    expect(await dlg.getByRole('button', { name: 'Start restore' }).isDisabled()).toBe(true);
    await dlg.locator('#vol-name').fill('db-1 restored');
    await dlg.getByRole('button', { name: 'Start restore' }).click();
    await dlg.locator('[data-outcome=succeeded]').waitFor({ timeout: 30_000 });
    expect(await dlg.locator('[data-outcome=succeeded]').textContent()).toMatch(/New volumes: [0-9a-f-]{36}/);
    await dlg.getByRole('button', { name: 'Close' }).click();

    await restoreBtn.click();
    await dlg.getByRole('radio', { name: /In place/ }).check();
    expect(await dlg.locator('[data-testid=overwrite-warning]').textContent()).toContain('overwrites vda of db-1');
    const start = dlg.getByRole('button', { name: 'Start restore' });
    await dlg.locator('#confirm').fill('db-');
    expect(await start.isDisabled()).toBe(true);
    await dlg.locator('#confirm').fill('db-1');
    expect(await start.isDisabled()).toBe(false);
    await start.click();
    await dlg.locator('[data-outcome=succeeded]').waitFor({ timeout: 30_000 });
    await dlg.getByRole('button', { name: 'Close' }).click();

    await restoreBtn.click();
    await dlg.getByRole('radio', { name: 'Download one disk' }).check();
    await dlg.getByRole('radio', { name: 'raw' }).check();
    // the browser streams a signed link to a file itself (no blob in the page): the bytes are the point's disk
    const [download] = await Promise.all([page.waitForEvent('download'), dlg.getByRole('button', { name: 'Download' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^db-1-vda-\d{8}-\d{6}\.raw$/);
    expect(download.url()).toMatch(new RegExp(`^${plugin.url}/api/downloads/[\\w-]+\\.[\\w-]+$`));
    const file = await download.path();
    const got = readFileSync(file);
    const pointId = ((await (await f.req('GET', `/api/v1/vms/${id}/restore-points`, { token })).json()) as { items: { id: string }[] }).items[0].id;
    const want = Buffer.from(await (await f.req('GET', `/api/v1/restore-points/${pointId}/download?disk=vda&format=raw`, { token })).arrayBuffer());
    expect(got.byteLength).toBeGreaterThan(2 ** 20);
    expect(got.byteLength).toBe(want.byteLength);
    expect(got.equals(want)).toBe(true);
    const restores = await (await f.req('GET', `/api/v1/restores?vmId=${id}`, { token })).json() as { items: { kind: string; status: string }[] };
    // the browser's download and the comparison's own
    expect(restores.items.map((r) => r.kind).sort()).toEqual(['download', 'download', 'in-place', 'new-volume']);
  });

  it('a failing backup shows its error and what to do', async () => {
    failingVm.id = f.vmId('infra-1');
    await go(frame, `#/vms/${failingVm.id}`);
    await frame.locator('sd-vm').getByRole('button', { name: 'Back up now' }).click();
    await frame.getByRole('button', { name: 'Start backup' }).click();
    const failed = frame.locator('sd-vm [data-outcome=failed]');
    await expect.poll(() => frame.locator('sd-vm sd-backup-dialog dialog').textContent(), { timeout: 30_000 }).toContain('disk vda is busy');
    const text = await failed.textContent();
    expect(text).toContain('disk vda is busy');
    expect(text).toContain('Infrastructure');
    await frame.locator('sd-backup-dialog').getByRole('button', { name: 'Close' }).click();
    await go(frame, '#/history?status=failed');
    await frame.locator('sd-history tr[data-job]').first().waitFor();
    expect(await frame.locator('sd-history tr[data-job]').first().textContent()).toContain('disk vda is busy');
  });

  it('the overview\'s figures are the API\'s exact counts and each opens the list behind it, filtered and sorted by the server', async () => {
    const perVm: string[] = [];
    const onRequest = (r: { url(): string }) => { if (/\/api\/v1\/vms\/[0-9a-f-]{36}$/.test(new URL(r.url()).pathname)) perVm.push(r.url()); };
    page.on('request', onRequest);
    const token = await f.login('admin');
    const exact = await (await f.req('GET', '/api/v1/overview', { token })).json() as { vms: Record<string, number>; jobs24h: { total: number } };
    expect(exact.vms).toMatchObject({ total: 5, protected: 2, failing: 1, unprotected: 2 });
    await go(frame, '#/overview');
    const stat = (k: string) => frame.locator(`sd-overview [data-testid=stat-${k}] .n`);
    await stat('vms').waitFor();
    for (const k of ['vms', 'protected', 'unprotected', 'failing'] as const) {
      expect(await stat(k).textContent(), k).toBe(String(exact.vms[k === 'vms' ? 'total' : k]));
    }
    expect(await stat('jobs').textContent()).toBe(String(exact.jobs24h.total));
    for (const [k, names] of [['protected', ['db-1', 'web-1']], ['failing', ['infra-1']], ['unprotected', ['bob-1', 'carol-1']]] as const) {
      await go(frame, '#/overview');
      await frame.locator(`sd-overview [data-testid=stat-${k}]`).click();
      await expect.poll(async () => (await frame.locator('sd-vms tr[data-vm]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-vm')}:${e.getAttribute('data-protection')}`))).sort().join(','), { timeout: 10_000 })
        .toBe(names.map((n) => `${n}:${k}`).join(','));
      expect(await frame.locator('#vm-protection').inputValue()).toBe(k);
    }
    // the protection filter and a sort by last backup (newest first on the second click), from the toolbar and the column header
    await frame.locator('#vm-protection').selectOption('');
    await frame.getByRole('button', { name: 'Sort by Last backup' }).click();
    await expect.poll(() => frame.evaluate(() => location.hash)).toContain('sort=lastBackup');
    await frame.getByRole('button', { name: 'Sort by Last backup' }).click();
    await expect.poll(async () => (await frame.locator('sd-vms tr[data-vm]').evaluateAll((els) => els.map((e) => e.getAttribute('data-vm')))).slice(0, 2).join(','), { timeout: 10_000 }).toBe('db-1,web-1');
    expect(await frame.locator('sd-vms th[aria-sort=descending]').textContent()).toContain('Last backup');
    // the platform badge and the protection of each row came with the page: no request per VM
    expect(await frame.locator('sd-vms tr[data-vm=infra-1] [data-platform]').textContent()).toBe('cloudstack');
    expect(await frame.locator('sd-vms tr[data-vm=infra-1]').textContent()).toContain('Failing');
    page.off('request', onRequest);
    expect(perVm).toEqual([]);
  });

  it('an expired token shows the sign-in over the view and loses nothing typed', async () => {
    await go(frame, '#/policies');
    await frame.getByRole('button', { name: 'New policy' }).click();
    await frame.locator('#pf-name').fill('nightly-gold');
    await frame.locator('#pf-schedule').fill('0 1 * *');
    expect(await frame.locator('#pf-schedule + .invalid').textContent()).toContain('5 or 6 fields');
    await frame.locator('#pf-schedule').fill('0 1 * * *');
    // from now on the control plane gets a token it did not sign (as after its expiry): its real 401
    refuseTokens = true;
    await frame.getByRole('button', { name: 'Save' }).click();
    const again = frame.locator('sd-sign-in[expired]');
    await again.waitFor({ timeout: 10_000 });
    expect(await again.locator('#username').inputValue()).toBe('admin');
    refuseTokens = false;
    await again.locator('#password').fill('password');
    await again.locator('button[type=submit]').click();
    await again.waitFor({ state: 'detached' });
    expect(await frame.locator('#pf-name').inputValue()).toBe('nightly-gold');
    expect(await frame.locator('#pf-schedule').inputValue()).toBe('0 1 * * *');
    await frame.getByRole('button', { name: 'Save' }).click();
    await frame.locator('sd-policies tr[data-policy=nightly-gold]').waitFor();
  });

  it('permission denied: a user opening the infrastructure view sees the API\'s refusal', async () => {
    await signOut(frame);
    await signIn(frame, 'alice', '/customers/');
    await frame.locator('[data-testid=who]').waitFor();
    expect(await frame.getByRole('link', { name: 'Infrastructure' }).count()).toBe(0);
    await go(frame, '#/infrastructure');
    const denied = frame.locator('sd-infrastructure [data-state=denied]').first();
    await denied.waitFor();
    expect(await denied.textContent()).toContain('You may not see this');
    await go(frame, '#/policies');
    await frame.locator('sd-policies').getByText('Only admins can change policies.').waitFor();
  });
});

describe('every view, light and dark: screenshots and axe-core', () => {
  for (const scheme of ['light', 'dark'] as const) {
    it(`${scheme}: no serious accessibility violations, one scroll bar at 90vh`, async () => {
      const ctx = await newContext(browser, scheme);
      try {
        const { page, frame } = await open(ctx);
        await frame.locator('sd-sign-in #username').waitFor();
        await screenshot(page, `sign-in-${scheme}`);
        expect(await seriousViolations(frame)).toEqual([]);
        await signIn(frame, 'admin', '/');
        await frame.locator('[data-testid=who]').waitFor();
        const views: [string, string, string][] = [
          ['overview', '#/overview', 'sd-overview [data-testid=stat-vms]'],
          ['vms', '#/vms', 'sd-vms tr[data-vm]'],
          ['vm', `#/vms/${f.vmId('web-1')}`, 'sd-vm tr[data-point]'],
          ['policies', '#/policies', 'sd-policies tr[data-policy]'],
          ['infrastructure', '#/infrastructure', 'sd-infrastructure tr[data-host]'],
          ['history', '#/history', 'sd-history tr[data-job]'],
          ['history-restores', '#/history?kind=restores', 'sd-history tr[data-restore]'],
        ];
        for (const [name, hash, ready] of views) {
          await go(frame, hash);
          await frame.locator(ready).first().waitFor({ timeout: 15_000 });
          await page.waitForTimeout(150);
          await screenshot(page, `${name}-${scheme}`);
          expect(await seriousViolations(frame), name).toEqual([]);
          // the iframe is 90vh: only the plug-in's main area scrolls, the frame's document never does
          const scroll = await frame.evaluate(() => ({ doc: document.documentElement.scrollHeight - document.documentElement.clientHeight, body: getComputedStyle(document.body).overflow }));
          expect(scroll.doc, name).toBeLessThanOrEqual(0);
        }
        await go(frame, `#/vms/${f.vmId('web-1')}`);
        await frame.locator('sd-vm').getByRole('button', { name: 'Back up now' }).click();
        await page.waitForTimeout(150);
        await screenshot(page, `backup-dialog-${scheme}`);
        expect(await seriousViolations(frame), 'backup dialog').toEqual([]);
        await frame.locator('sd-backup-dialog').getByRole('button', { name: 'Close' }).click();
        await frame.locator('sd-vm tr[data-point]').first().getByRole('button', { name: 'Restore' }).click();
        await frame.locator('sd-restore-dialog').getByRole('radio', { name: /In place/ }).check();
        await page.waitForTimeout(150);
        await screenshot(page, `restore-dialog-${scheme}`);
        expect(await seriousViolations(frame), 'restore dialog').toEqual([]);
        // a narrow window still works (tabs wrap under the brand)
        await page.setViewportSize({ width: 640, height: 720 });
        await go(frame, '#/vms');
        await frame.locator('sd-vms tr[data-vm]').first().waitFor();
        await screenshot(page, `vms-narrow-${scheme}`);
      } finally {
        await ctx.close();
      }
    });
  }
});
