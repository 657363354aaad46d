/**
 * Issue 12 item 9 with the simulator's accounts (admin, dadmin, alice, bob, carol): policies and
 * assignments are shown only as far as they touch VMs the caller may see; users assign only
 * user-assignable policies and never replace nor remove an assignment an admin made.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFixture, type Fixture } from '../testing/fixture.ts';

type PolicyView = { id: string; name: string; userAssignable: boolean; assignments: { id: string; kind: string; target: string }[] };

describe('policy visibility and who may assign', () => {
  let f: Fixture;
  const t: Record<string, string> = {};
  let adminsOnly: PolicyView;
  let open: PolicyView;
  beforeAll(async () => {
    f = await makeFixture();
    t.admin = await f.login('admin');
    t.dadmin = await f.login('dadmin', '/customers/');
    t.alice = await f.login('alice', '/customers');
    t.bob = await f.login('bob', '/customers');
    const create = async (body: unknown) => (await (await f.req('POST', '/api/v1/policies', { token: t.admin, body })).json()) as PolicyView;
    adminsOnly = await create({ name: 'gold', schedule: '0 1 * * *', retention: { keepLast: 7 } });
    open = await create({ name: 'bronze', schedule: '0 3 * * *', retention: { keepLast: 2 }, userAssignable: true });
    const other = f.sim.state.domains.find((d) => d.name === 'other')!.id;
    for (const b of [{ kind: 'vm', vmId: f.vmId('bob-1') }, { kind: 'vm', vmId: f.vmId('infra-1') }, { kind: 'account', domainId: other, account: 'carol' }]) {
      expect((await f.req('POST', `/api/v1/policies/${adminsOnly.id}/assignments`, { token: t.admin, body: b })).status).toBe(201);
    }
  });
  afterAll(() => f?.close());

  const list = async (who: string) => ((await (await f.req('GET', '/api/v1/policies', { token: t[who] })).json()) as { items: PolicyView[] }).items;
  const targets = (p: PolicyView | undefined) => (p?.assignments ?? []).map((a) => a.target).sort();

  it('each caller sees a policy only through the assignments that touch their VMs (or when it is user-assignable)', async () => {
    expect((await list('admin')).map((p) => p.name).sort()).toEqual(['bronze', 'gold']);
    expect(targets((await list('admin')).find((p) => p.name === 'gold'))).toHaveLength(3);
    // alice (web-1, db-1): gold touches none of her VMs — hidden, and 404 by id
    expect((await list('alice')).map((p) => p.name)).toEqual(['bronze']);
    expect((await f.req('GET', `/api/v1/policies/${adminsOnly.id}`, { token: t.alice })).status).toBe(404);
    // bob (bob-1) and dadmin (customers: bob-1, db-1, web-1) see gold with bob-1's assignment only
    for (const who of ['bob', 'dadmin']) {
      const gold = (await list(who)).find((p) => p.name === 'gold');
      expect(targets(gold), who).toEqual([f.vmId('bob-1')]);
    }
    expect(targets((await (await f.req('GET', `/api/v1/policies/${adminsOnly.id}`, { token: t.bob })).json()) as PolicyView)).toEqual([f.vmId('bob-1')]);
  });

  it('a user assigns only a user-assignable policy, and cannot replace or remove what an admin assigned', async () => {
    const assign = (who: string, p: PolicyView, b: unknown) => f.req('POST', `/api/v1/policies/${p.id}/assignments`, { token: t[who], body: b });
    const refused = await assign('alice', adminsOnly, { kind: 'vm', vmId: f.vmId('web-1') });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(/not one users may assign/);
    const mine = await assign('alice', open, { kind: 'vm', vmId: f.vmId('web-1') });
    expect(mine.status).toBe(201);
    // bob's VM carries the admin's gold: bob can neither swap it for bronze nor remove it
    expect((await assign('bob', open, { kind: 'vm', vmId: f.vmId('bob-1') })).status).toBe(403);
    const admins = (await f.store.policies.assignments(adminsOnly.id)).find((a) => a.target === f.vmId('bob-1'))!;
    const del = await f.req('DELETE', `/api/v1/policies/${adminsOnly.id}/assignments/${admins.id}`, { token: t.bob });
    expect(del.status).toBe(403);
    expect(await del.text()).toMatch(/made by an administrator/);
    expect(await f.store.policies.getAssignment(admins.id)).toBeDefined();
    // her own assignment alice may remove; the admin may remove theirs
    const own = (await f.store.policies.assignments(open.id)).find((a) => a.target === f.vmId('web-1'))!;
    expect(own).toMatchObject({ createdBy: 'alice', createdByRole: 'user' });
    expect((await f.req('DELETE', `/api/v1/policies/${open.id}/assignments/${own.id}`, { token: t.alice })).status).toBe(204);
    expect((await f.req('DELETE', `/api/v1/policies/${adminsOnly.id}/assignments/${admins.id}`, { token: t.admin })).status).toBe(204);
  });
});
