/**
 * The authorization matrix against the CloudStack simulator: root admin, domain admin, user,
 * anonymous, a bad signature, an expired request — through the API (app.request on real SQLite),
 * with tokens from CloudStack's login and with requests signed with CloudStack API keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatExpires } from '../cloudstack/signer.ts';
import { JobDto, VmList } from '../http/schemas.ts';
import { makeFixture, type Fixture } from '../testing/fixture.ts';

describe('who may do what', () => {
  let f: Fixture;
  const tokens: Record<string, string> = {};
  let carolJob = '';
  let aliceJob = '';

  beforeAll(async () => {
    f = await makeFixture();
    tokens.admin = await f.login('admin');
    tokens.dadmin = await f.login('dadmin', '/customers/');
    tokens.alice = await f.login('alice', '/customers');
    tokens.carol = await f.login('carol');
    carolJob = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${f.vmId('carol-1')}/backups`, { token: tokens.admin })).json()).id;
    aliceJob = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${f.vmId('web-1')}/backups`, { token: tokens.alice })).json()).id;
    await Promise.all([f.cp.runner.settled(carolJob), f.cp.runner.settled(aliceJob)]);
  });
  afterAll(async () => { await f.close(); });

  const names = async (res: Response) => VmList.parse(await res.json()).items.map((v) => v.name).sort();

  it('sign-in: the token carries the role CloudStack gives', async () => {
    for (const [who, role] of [['admin', 'root-admin'], ['dadmin', 'domain-admin'], ['alice', 'user']] as const) {
      const me = (await (await f.req('GET', '/api/v1/auth/me', { token: tokens[who] })).json()) as { role: string; username: string; via: string; accountId: string };
      expect(me).toMatchObject({ role, username: who, via: 'token' });
      expect(me.accountId).toBe(f.sim.state.users.find((u) => u.username === who)!.accountId);
    }
  });

  it('VM lists follow CloudStack: everything, the domain, the account', async () => {
    expect(await names(await f.req('GET', '/api/v1/vms', { token: tokens.admin }))).toEqual(['bob-1', 'carol-1', 'db-1', 'infra-1', 'web-1']);
    expect(await names(await f.req('GET', '/api/v1/vms', { token: tokens.dadmin }))).toEqual(['bob-1', 'db-1', 'web-1']);
    expect(await names(await f.req('GET', '/api/v1/vms', { token: tokens.alice }))).toEqual(['db-1', 'web-1']);
    expect(await names(await f.req('GET', '/api/v1/vms', { token: tokens.carol }))).toEqual(['carol-1']);
  });

  it('one VM, its backups and restore points: the owner, their domain admin and root; nobody else', async () => {
    const matrix: [string, string, number][] = [
      ['admin', 'carol-1', 200], ['dadmin', 'bob-1', 200], ['dadmin', 'carol-1', 404], ['dadmin', 'infra-1', 404],
      ['alice', 'web-1', 200], ['alice', 'bob-1', 404], ['alice', 'infra-1', 404], ['carol', 'web-1', 404],
    ];
    for (const [who, vm, status] of matrix) {
      expect((await f.req('GET', `/api/v1/vms/${f.vmId(vm)}`, { token: tokens[who] })).status, `${who} GET ${vm}`).toBe(status);
      expect((await f.req('GET', `/api/v1/vms/${f.vmId(vm)}/restore-points`, { token: tokens[who] })).status, `${who} points ${vm}`).toBe(status);
    }
    // somebody else's VM answers exactly as a VM that does not exist (nobody learns which VMs exist)
    const denied = await f.req('POST', `/api/v1/vms/${f.vmId('bob-1')}/backups`, { token: tokens.alice });
    expect(denied.status).toBe(404);
    const missingId = crypto.randomUUID();
    const missing = await f.req('POST', `/api/v1/vms/${missingId}/backups`, { token: tokens.alice });
    expect(missing.status).toBe(404);
    const bodyOf = async (r: Response) => JSON.stringify(await r.json());
    expect((await bodyOf(denied)).replace(f.vmId('bob-1'), 'ID')).toBe((await bodyOf(missing)).replace(missingId, 'ID'));
    // the audit log keeps the real reason
    const audit = await f.store.audit.list({ action: 'backup.start', targetId: f.vmId('bob-1') });
    expect(audit[0]).toMatchObject({ actor: 'alice', outcome: 'denied', via: 'token' });
    expect(String(audit[0].details?.reason)).toMatch(/belongs to account bob/);
    expect(await f.store.jobs.count({ vmId: f.vmId('bob-1') })).toBe(0);
  });

  it('jobs: listed and opened only by who may see the VM', async () => {
    const ids = async (who: string) => ((await (await f.req('GET', '/api/v1/jobs', { token: tokens[who] })).json()) as { items: { id: string }[] }).items.map((j) => j.id).sort();
    expect(await ids('admin')).toEqual([aliceJob, carolJob].sort());
    expect(await ids('dadmin')).toEqual([aliceJob]);
    expect(await ids('alice')).toEqual([aliceJob]);
    expect(await ids('carol')).toEqual([carolJob]);
    // somebody else's job answers as a job that does not exist
    const carols = await f.req('GET', `/api/v1/jobs/${carolJob}`, { token: tokens.alice });
    expect(carols.status).toBe(404);
    expect(((await carols.json()) as { error: { message: string } }).error.message).toBe(`no job ${carolJob}`);
    expect((await f.req('GET', `/api/v1/jobs/${carolJob}/events`, { token: tokens.dadmin })).status).toBe(404);
    expect((await f.req('POST', `/api/v1/jobs/${carolJob}/cancel`, { token: tokens.alice })).status).toBe(404);
    expect((await f.req('GET', `/api/v1/jobs?vmId=${f.vmId('carol-1')}`, { token: tokens.alice })).status).toBe(404);
    expect((await f.req('GET', `/api/v1/jobs/${aliceJob}`, { token: tokens.dadmin })).status).toBe(200);
  });

  it('infrastructure and policies are for root admins; assignments follow who owns the target', async () => {
    for (const p of ['/api/v1/hosts', '/api/v1/agents', '/api/v1/repositories', '/api/v1/audit']) {
      expect((await f.req('GET', p, { token: tokens.admin })).status, p).toBe(200);
      expect((await f.req('GET', p, { token: tokens.dadmin })).status, p).toBe(403);
      expect((await f.req('GET', p, { token: tokens.alice })).status, p).toBe(403);
    }
    const body = { name: 'p1', schedule: '0 1 * * *', retention: { keepLast: 3 }, userAssignable: true };
    expect((await f.req('POST', '/api/v1/policies', { token: tokens.dadmin, body })).status).toBe(403);
    const p = (await (await f.req('POST', '/api/v1/policies', { token: tokens.admin, body })).json()) as { id: string };
    expect((await f.req('GET', '/api/v1/policies', { token: tokens.alice })).status).toBe(200);
    expect((await f.req('PATCH', `/api/v1/policies/${p.id}`, { token: tokens.alice, body: { enabled: false } })).status).toBe(403);
    expect((await f.req('DELETE', `/api/v1/policies/${p.id}`, { token: tokens.dadmin })).status).toBe(403);

    const assign = (who: string, b: unknown) => f.req('POST', `/api/v1/policies/${p.id}/assignments`, { token: tokens[who], body: b });
    const customers = f.sim.state.domains.find((d) => d.name === 'customers')!.id;
    const other = f.sim.state.domains.find((d) => d.name === 'other')!.id;
    const zone = f.sim.state.zones[0].id;
    expect((await assign('alice', { kind: 'vm', vmId: f.vmId('web-1') })).status).toBe(201);
    expect((await assign('alice', { kind: 'vm', vmId: f.vmId('bob-1') })).status).toBe(404);
    expect((await assign('alice', { kind: 'account', domainId: customers, account: 'alice' })).status).toBe(201);
    expect((await assign('alice', { kind: 'account', domainId: customers, account: 'bob' })).status).toBe(403);
    expect((await assign('dadmin', { kind: 'account', domainId: customers, account: 'bob' })).status).toBe(201);
    expect((await assign('dadmin', { kind: 'account', domainId: other, account: 'carol' })).status).toBe(403);
    expect((await assign('dadmin', { kind: 'zone', zoneId: zone })).status).toBe(403);
    expect((await assign('alice', { kind: 'tag', key: 'tier', value: 'gold' })).status).toBe(403);
    expect((await assign('admin', { kind: 'zone', zoneId: zone })).status).toBe(201);
    const assignments = await f.store.policies.assignments(p.id);
    const bobs = assignments.find((a) => a.target.endsWith('/bob'))!;
    expect((await f.req('DELETE', `/api/v1/policies/${p.id}/assignments/${bobs.id}`, { token: tokens.alice })).status).toBe(403);
    expect((await f.req('DELETE', `/api/v1/policies/${p.id}/assignments/${bobs.id}`, { token: tokens.dadmin })).status).toBe(204);
    const denials = await f.store.audit.list({ action: 'policy.assign' });
    expect(denials.filter((a) => a.outcome === 'denied').length).toBe(5);
  });

  it('anonymous: 401 everywhere but login, health, metrics and the document', async () => {
    for (const [m, p] of [['GET', '/api/v1/vms'], ['GET', `/api/v1/vms/${f.vmId('web-1')}`], ['POST', `/api/v1/vms/${f.vmId('web-1')}/backups`], ['GET', '/api/v1/jobs'], ['GET', '/api/v1/policies'], ['GET', '/api/v1/hosts'], ['GET', '/api/v1/auth/me']]) {
      const res = await f.req(m, p);
      expect(res.status, `${m} ${p}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'unauthenticated', message: expect.stringMatching(/sign in/) });
    }
    for (const p of ['/healthz', '/metrics', '/api/openapi.json']) expect((await f.req('GET', p)).status).toBe(200);
  });

  it('tokens: a forged, a foreign or a malformed one is refused', async () => {
    const [pre, payload, mac] = tokens.alice.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = `${pre}.${Buffer.from(JSON.stringify({ ...claims, role: 'root-admin' })).toString('base64url')}.${mac}`;
    for (const [t, msg] of [[forged, /signature does not match/], ['s1.abc.def', /signature does not match/], ['nonsense', /not a Sendense token/]] as const) {
      const res = await f.req('GET', '/api/v1/vms', { token: t });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(msg);
    }
    const basic = await f.req('GET', '/api/v1/vms', { headers: { authorization: 'Basic YWRtaW46cGFzc3dvcmQ=' } });
    expect(basic.status).toBe(401);
  });

  it('sign-in failures: wrong password, wrong domain, unknown user → 401, audited', async () => {
    for (const body of [
      { username: 'alice', password: 'nope', domain: '/customers/' },
      { username: 'alice', password: 'password', domain: '/' },
      { username: 'mallory', password: 'password' },
    ]) {
      const res = await f.req('POST', '/api/v1/auth/login', { body, headers: { 'x-test-client': '198.51.100.1' } });
      expect(res.status, JSON.stringify(body)).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/CloudStack refused the sign-in/);
    }
    const denied = await f.store.audit.list({ action: 'auth.login' });
    expect(denied.filter((a) => a.outcome === 'denied').map((a) => a.actor).sort()).toEqual(['alice', 'alice', 'mallory']);
  });

  it('sign-in is rate-limited per client address and username', async () => {
    const attempt = (password: string, ip: string, username = 'bob') =>
      f.req('POST', '/api/v1/auth/login', { body: { username, password, domain: '/customers/' }, headers: { 'x-test-client': ip } });
    for (let i = 0; i < 5; i++) expect((await attempt('wrong', '203.0.113.5')).status).toBe(401);
    const limited = await attempt('password', '203.0.113.5');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    // another address, or another user from the same address, is not held back
    expect((await attempt('password', '203.0.113.6')).status).toBe(200);
    expect((await attempt('password', '203.0.113.5', 'alice')).status).toBe(200);
  });

  describe('requests signed with a CloudStack API key', () => {
    it('each role sees what CloudStack lets it see', async () => {
      expect(await names(await f.signed('admin', 'GET', '/api/v1/vms'))).toEqual(['bob-1', 'carol-1', 'db-1', 'infra-1', 'web-1']);
      expect(await names(await f.signed('dadmin', 'GET', '/api/v1/vms'))).toEqual(['bob-1', 'db-1', 'web-1']);
      expect(await names(await f.signed('alice', 'GET', '/api/v1/vms?limit=10'))).toEqual(['db-1', 'web-1']);
      const me = (await (await f.signed('dadmin', 'GET', '/api/v1/auth/me')).json()) as { role: string; via: string };
      expect(me).toEqual(expect.objectContaining({ role: 'domain-admin', via: 'apikey' }));
    });

    it('a signed backup (body bound by contentsha256); another account\'s VM is refused', async () => {
      const ok = await f.signed('bob', 'POST', `/api/v1/vms/${f.vmId('bob-1')}/backups`, { body: { mode: 'full' } });
      expect(ok.status).toBe(202);
      await f.cp.runner.settled(JobDto.parse(await ok.json()).id);
      expect((await f.signed('bob', 'POST', `/api/v1/vms/${f.vmId('web-1')}/backups`, { body: { mode: 'full' } })).status).toBe(404);
    });

    const refused = async (res: Response, msg: RegExp) => {
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(msg);
    };

    it('bad signature: wrong secret, tampered query, another route, another body', async () => {
      const alice = f.sim.keysOf('alice');
      const bob = f.sim.keysOf('bob');
      // alice's key, bob's secret
      const { signApiRequest } = await import('./request-signature.ts');
      const wrong = signApiRequest({ method: 'GET', url: 'http://sendense.test/api/v1/vms', apiKey: alice.apiKey, secretKey: bob.secretKey });
      await refused(await f.cp.app.request(wrong), /unable to verify user credentials and\/or request signature/);
      await refused(await f.signed('alice', 'GET', '/api/v1/vms?limit=5', { tamper: (u) => u.replace('limit=5', 'limit=6') }), /unable to verify/);
      // a signature for GET /api/v1/vms replayed on GET /api/v1/jobs
      await refused(await f.signed('alice', 'GET', '/api/v1/vms', { tamper: (u) => u.replace('/api/v1/vms', '/api/v1/jobs') }), /unable to verify/);
      // a signed backup whose body was changed on the way
      const url = signApiRequest({ method: 'POST', url: `http://sendense.test/api/v1/vms/${f.vmId('web-1')}/backups`, body: '{"mode":"auto"}', ...alice });
      await refused(await f.cp.app.request(url, { method: 'POST', body: '{"mode":"full"}', headers: { 'content-type': 'application/json' } }), /contentsha256 does not match/);
      const noHash = url.replace(/contentsha256=[0-9a-f]+&?/, '');
      await refused(await f.cp.app.request(noHash, { method: 'POST', body: '{"mode":"auto"}', headers: { 'content-type': 'application/json' } }), /needs contentsha256/);
      // a key CloudStack does not know
      await refused(await f.signed('alice', 'GET', '/api/v1/vms', { tamper: (u) => u.replace(/apiKey=[^&]+/, 'apiKey=unknown-key') }), /unable to verify/);
    });

    it('expired requests, far-future expiry and v1 signatures are refused', async () => {
      await refused(await f.signed('alice', 'GET', '/api/v1/vms', { now: Date.now() - 10 * 60_000, ttlMs: 5 * 60_000 }), /request expired at/);
      await refused(await f.signed('alice', 'GET', '/api/v1/vms', { ttlMs: 60 * 60_000 }), /more than 15 minutes ahead/);
      await refused(await f.signed('alice', 'GET', '/api/v1/vms', { tamper: (u) => u.replace('signatureVersion=3', 'signatureVersion=1') }), /signatureVersion=3/);
      await refused(await f.signed('alice', 'GET', '/api/v1/vms', { tamper: (u) => u.replace(/expires=[^&]+/, `expires=${encodeURIComponent(formatExpires(Date.now() + 60_000)).replace(/\+/g, '%2B')}`) }), /unable to verify/);
    });

    it('a disabled CloudStack user cannot use their key', async () => {
      const carol = f.sim.state.users.find((u) => u.username === 'carol')!;
      carol.state = 'disabled';
      try {
        await refused(await f.signed('carol', 'GET', '/api/v1/vms'), /carol is disabled/);
      } finally { carol.state = 'enabled'; }
    });
  });
});
