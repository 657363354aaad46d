/**
 * The plug-in in real Chromium against the real stack (test/e2e/setup.ts, as `sendense demo`
 * wires it): the CloudStack simulator, the control plane on SQLite, the agent daemon over SSH, a
 * TCG lab VM with a real qcow2 disk, a repository host behind a 40 Mbit/s link (a full backup takes
 * seconds, so its progress is seen). In the CloudStack-like host page, on another origin:
 * user, domain admin and root admin each see exactly their VMs; back up now with live progress to
 * the end; the new point; verify; download (compared with the disk's content); restore as a new
 * volume and in place (the VM stopped first); retention preview and apply; a failing backup
 * shows the agent's error. (Token expiry and permission-denied: ui.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { startE2e, type E2e } from '../../test/e2e/setup.ts';
import { sameContent } from '../../test/agent/fixture.ts';
import { buildPlugin, launch, newContext, pluginFrame, screenshot, seriousViolations, serveHost, servePlugin, type Served } from './browser.ts';

const M = 1 << 20;
let dist: string;
let e2e: E2e;
let plugin: Served;
let host: Served;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let frame: Frame;

beforeAll(async () => {
  const [d, b, w] = await Promise.all([
    buildPlugin(), launch(),
    startE2e({ label: 'ui-e2e', vms: [{ name: 'web-1', disks: [{ size: 48 * M, randomPrefix: 16 * M }] }], repoRateMbit: 40 }),
  ]);
  dist = d;
  browser = b;
  e2e = w;
  // a second VM, of the root admin's account, that only CloudStack knows (no backup is taken of it)
  const s = e2e.sim.state;
  const admin = s.users.find((u) => u.username === 'admin')!;
  const template = s.vms[0];
  const vmId = randomUUID();
  s.vms.push({ ...template, id: vmId, name: 'infra-1', displayName: 'infra-1', accountId: admin.accountId });
  const token = await e2e.login('admin');
  const r = await e2e.api('/api/v1/discovery', { method: 'POST', token });
  expect(r.status, await r.clone().text()).toBe(200);
  plugin = await servePlugin(dist, (req) => {
    const u = new URL(req.url);
    return fetch(`${e2e.url}${u.pathname}${u.search}`, { method: req.method, headers: req.headers, body: req.body, duplex: 'half', signal: req.signal } as RequestInit);
  });
  host = await serveHost(`${plugin.url}/plugin/`);
  ctx = await newContext(browser);
  page = await ctx.newPage();
  await page.goto(host.url);
  frame = await pluginFrame(page, plugin.url);
}, 600_000);

afterAll(async () => {
  await ctx?.close();
  await browser?.close();
  await host?.close();
  await plugin?.close();
  await e2e?.close();
  if (dist) rmSync(path.dirname(dist), { recursive: true, force: true });
});

async function signIn(username: string, domain: string) {
  await frame.locator('sd-sign-in #username').fill(username);
  await frame.locator('sd-sign-in #password').fill('password');
  await frame.locator('sd-sign-in #domain').fill(domain);
  await frame.locator('sd-sign-in button[type=submit]').click();
  await frame.locator('[data-testid=who]').waitFor();
}
async function signOut() {
  await frame.getByRole('button', { name: 'Sign out' }).click();
  await frame.locator('sd-sign-in #username').waitFor();
}
const go = (hash: string) => frame.evaluate((h) => { location.hash = h; }, hash);
async function vmNames(): Promise<string[]> {
  await go('#/vms');
  const rows = frame.locator('sd-vms tr[data-vm]');
  await rows.first().waitFor();
  return (await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-vm') ?? ''))).sort();
}

describe('the plug-in against the real stack', () => {
  it('user, domain admin and root admin each see exactly their VMs', async () => {
    await signIn('alice', '/customers/');
    expect(await vmNames()).toEqual(['web-1']);
    await signOut();
    await signIn('dadmin', '/customers/');
    expect(await vmNames()).toEqual(['web-1']);
    await signOut();
    await signIn('admin', '/');
    expect(await vmNames()).toEqual(['infra-1', 'web-1']);
  });

  it('back up now: live progress to the end and the new point; verify; download equals the disk', async () => {
    const vm = e2e.vm('web-1');
    await go(`#/vms/${vm.id}`);
    await frame.locator('sd-vm').getByRole('button', { name: 'Back up now' }).click();
    await frame.getByRole('radio', { name: 'Full', exact: true }).check();
    const truth = vm.lab.truth('vda');
    await frame.getByRole('button', { name: 'Start backup' }).click();
    const seen = new Set<string>();
    const done = frame.locator('sd-vm [data-outcome]');
    for (let i = 0; i < 1200 && (await done.count()) === 0; i++) {
      const t = await frame.locator('sd-vm [data-testid=progress-text]').textContent({ timeout: 100 }).catch(() => null);
      if (t) seen.add(t.split(' %')[0]);
      await page.waitForTimeout(100);
    }
    expect(await done.getAttribute('data-outcome'), await done.textContent() ?? '').toBe('succeeded');
    expect(seen.size, `progress seen: ${[...seen].join(', ')}`).toBeGreaterThan(2);
    await screenshot(page, 'e2e-backup-done-light');
    await frame.locator('sd-backup-dialog').getByRole('button', { name: 'Close' }).click();
    const row = frame.locator('sd-vm tr[data-point]');
    await expect.poll(() => row.count(), { timeout: 20_000 }).toBe(1);

    await row.first().getByRole('button', { name: 'Verify now' }).click();
    await frame.getByText(/Verification started/).waitFor();
    await expect.poll(() => frame.locator('sd-vm tr[data-point] [data-status=verified]').count(), { timeout: 180_000, interval: 2000 }).toBe(1);

    await row.first().getByRole('button', { name: 'Restore' }).click();
    const dlg = frame.locator('sd-restore-dialog');
    await dlg.getByRole('radio', { name: 'Download one disk' }).check();
    await dlg.getByRole('radio', { name: 'raw' }).check();
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 180_000 }), dlg.getByRole('button', { name: 'Download' }).click()]);
    const file = await download.path();
    expect(await sameContent(file, 'raw', await truth)).toBe(true);
    expect(await seriousViolations(frame)).toEqual([]);
  });

  it('restore as a new volume and in place (the VM stopped first, typed confirmation)', async () => {
    const vm = e2e.vm('web-1');
    await go(`#/vms/${vm.id}`);
    const restoreBtn = frame.locator('sd-vm tr[data-point]').first().getByRole('button', { name: 'Restore' });
    const dlg = frame.locator('sd-restore-dialog');
    await restoreBtn.click();
    await dlg.getByRole('radio', { name: 'New volumes' }).check();
    await dlg.getByRole('button', { name: 'Start restore' }).click();
    await dlg.locator('[data-outcome]').waitFor({ timeout: 300_000 });
    expect(await dlg.locator('[data-outcome]').getAttribute('data-outcome'), await dlg.locator('[data-outcome]').textContent() ?? '').toBe('succeeded');
    await dlg.getByRole('button', { name: 'Close' }).click();

    await restoreBtn.click();
    await dlg.getByRole('radio', { name: /In place/ }).check();
    await dlg.getByRole('checkbox', { name: /Stop the VM first/ }).check();
    await dlg.getByRole('checkbox', { name: /Start the VM when done/ }).check();
    await dlg.locator('#confirm').fill('web-1');
    await screenshot(page, 'e2e-restore-in-place-light');
    await dlg.getByRole('button', { name: 'Start restore' }).click();
    await dlg.locator('[data-outcome]').waitFor({ timeout: 300_000 });
    expect(await dlg.locator('[data-outcome]').getAttribute('data-outcome'), await dlg.locator('[data-outcome]').textContent() ?? '').toBe('succeeded');
    await dlg.getByRole('button', { name: 'Close' }).click();
  });

  it('retention preview and apply', async () => {
    const vm = e2e.vm('web-1');
    const token = await e2e.login('admin');
    const started = await (await e2e.api(`/api/v1/vms/${vm.id}/backups`, { method: 'POST', token, body: JSON.stringify({ mode: 'auto' }) })).json() as { id: string };
    await e2e.server.cp.runner.settled(started.id);
    const pol = await (await e2e.api('/api/v1/policies', { method: 'POST', token, body: JSON.stringify({ name: 'keep-one', schedule: '0 3 * * *', retention: { keepLast: 1 } }) })).json() as { id: string };
    await e2e.api(`/api/v1/policies/${pol.id}/assignments`, { method: 'POST', token, body: JSON.stringify({ kind: 'vm', vmId: vm.id }) });
    await go('#/vms');
    await go(`#/vms/${vm.id}`);
    await expect.poll(() => frame.locator('sd-vm tr[data-point]').count(), { timeout: 20_000 }).toBe(2);
    await frame.getByRole('button', { name: 'Preview retention' }).click();
    await frame.locator('sd-vm [data-testid=preview]').waitFor();
    expect(await frame.locator('sd-vm [data-testid=preview] [data-status=keep], sd-vm [data-testid=preview] [data-status=merge]').count()).toBe(1);
    await frame.getByRole('button', { name: 'Apply retention now' }).click();
    await frame.getByText(/Retention started/).waitFor();
    await expect.poll(() => frame.locator('sd-vm tr[data-point]').count(), { timeout: 300_000, interval: 2000 }).toBe(1);
  });

  it('a failing backup shows the agent\'s error and what to do', async () => {
    const vm = e2e.vm('web-1');
    await vm.lab.destroy(); // the libvirt domain is gone: the agent cannot back it up
    await go(`#/vms/${vm.id}`);
    await frame.locator('sd-vm').getByRole('button', { name: 'Back up now' }).click();
    await frame.getByRole('button', { name: 'Start backup' }).click();
    const done = frame.locator('sd-vm [data-outcome]');
    await done.waitFor({ timeout: 300_000 });
    expect(await done.getAttribute('data-outcome')).toBe('failed');
    const text = await done.textContent();
    expect(text).toMatch(/The backup failed: .{10,}/);
    expect(text).toContain('Infrastructure');
    await screenshot(page, 'e2e-backup-failed-light');
  });
});
