/**
 * Downloads by short-lived signed link (issue 10 §2 "download"): a link is issued to whoever may
 * act on the point's VM, streams the same bytes as the token-authenticated download without any
 * token, is good once, dies after its lifetime, and a forged or damaged one is refused saying what
 * to do. Issuing and using it are audited under the user who asked.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { DownloadLinkError, DownloadLinks } from '../restore/download-link.ts';
import { MemoryAgentGateway } from '../agents/memory.ts';
import type { Simulator } from '../cloudstack-sim/app.ts';
import { disksOf, makeFixture, type Fixture } from '../testing/fixture.ts';
import { DownloadLinkDto } from './restore-schemas.ts';

let f: Fixture;
let admin: string;
let alice: string;
let pointId: string;

beforeAll(async () => {
  // the memory agent's disks at 1/1024 of the simulator's: web-1's vda streams 8 MiB
  let sim: Simulator | undefined;
  const gateway = new MemoryAgentGateway({ tickMs: 5, disksOf: (req) => disksOf(sim!)(req).map((x) => ({ ...x, size: x.size / 1024 })) });
  f = await makeFixture({ gateway });
  sim = f.sim;
  await f.cp.heartbeat();
  admin = await f.login('admin');
  alice = await f.login('alice', '/customers/');
  const vm = f.vmId('web-1');
  const job = await (await f.req('POST', `/api/v1/vms/${vm}/backups`, { token: admin, body: { mode: 'full' } })).json() as { id: string };
  await f.cp.runner.settled(job.id);
  pointId = ((await (await f.req('GET', `/api/v1/vms/${vm}/restore-points`, { token: admin })).json()) as { items: { id: string }[] }).items[0].id;
});
afterAll(async () => { await f?.close(); });

const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

describe('signed download links', () => {
  it('a link streams the same bytes as the signed-in download, without a token, once', async () => {
    const res = await f.req('POST', `/api/v1/restore-points/${pointId}/download-link`, { token: alice, body: { disk: 'vda', format: 'raw' } });
    expect(res.status).toBe(201);
    const link = DownloadLinkDto.parse(await res.json());
    expect(link.path).toMatch(/^api\/downloads\/[\w-]+\.[\w-]+$/);
    expect(new Date(link.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(60_000);
    const got = await f.req('GET', `/${link.path}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-disposition')).toMatch(/^attachment; filename="web-1-vda-\d{8}-\d{6}\.raw"$/);
    expect(got.headers.get('cache-control')).toBe('no-store');
    const viaLink = new Uint8Array(await got.arrayBuffer());
    const direct = new Uint8Array(await (await f.req('GET', `/api/v1/restore-points/${pointId}/download?disk=vda&format=raw`, { token: admin })).arrayBuffer());
    expect(viaLink.byteLength).toBe(8 * 2 ** 20);
    expect(viaLink.byteLength).toBe(direct.byteLength);
    expect(Buffer.from(viaLink).equals(Buffer.from(direct))).toBe(true);
    const again = await f.req('GET', `/${link.path}`);
    expect(again.status).toBe(410);
    expect(await errorOf(again)).toMatchObject({ code: 'link_used', message: expect.stringMatching(/start the download again/) });
    // audited under alice, and recorded as her download restore
    const audit = (await (await f.req('GET', '/api/v1/audit?action=restore.download', { token: admin })).json()) as { items: { actor: string; outcome: string }[] };
    expect(audit.items.map((x) => [x.actor, x.outcome])).toContainEqual(['alice', 'ok']);
    const restores = (await (await f.req('GET', '/api/v1/restores', { token: alice })).json()) as { items: { kind: string; requestedBy: string; status: string }[] };
    expect(restores.items).toContainEqual(expect.objectContaining({ kind: 'download', requestedBy: 'alice', status: 'succeeded' }));
  });

  it('a forged or damaged link is refused; a user gets no link to another account\'s point', async () => {
    const res = await f.req('POST', `/api/v1/restore-points/${pointId}/download-link`, { token: admin, body: { disk: 'vda', format: 'qcow2' } });
    const { path } = DownloadLinkDto.parse(await res.json());
    const [body, sig] = path.slice('api/downloads/'.length).split('.');
    const forged = JSON.parse(Buffer.from(body, 'base64url').toString()) as { disk: string };
    forged.disk = 'vdb';
    const bad = await f.req('GET', `/api/downloads/${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`);
    expect(bad.status).toBe(403);
    expect(await errorOf(bad)).toMatchObject({ code: 'link_invalid' });
    const notAToken = await f.req('GET', '/api/downloads/nope');
    expect(notAToken.status).toBe(400);
    const bob = await f.login('bob');
    const theirs = await f.req('POST', `/api/v1/restore-points/${pointId}/download-link`, { token: bob, body: { disk: 'vda' } });
    expect(theirs.status).toBe(404);
    const anonymous = await f.req('POST', `/api/v1/restore-points/${pointId}/download-link`, { body: { disk: 'vda' } });
    expect(anonymous.status).toBe(401);
  });

  it('a link dies after its lifetime', () => {
    let now = 1_000_000;
    const links = new DownloadLinks({ ttlMs: 60_000, clock: () => now });
    const { token } = links.issue({ pointId: 'p', disk: 'vda', format: 'raw', user: { userId: 'u', username: 'alice', account: 'alice', domainId: 'd', via: 'token' } });
    now += 60_001;
    expect(() => links.redeem(token)).toThrow(DownloadLinkError);
    expect(() => links.redeem(token)).toThrow(/expired at .*links live 60 s/);
    expect(() => new DownloadLinks().redeem(token)).toThrow(/not valid here/);
  });
});
