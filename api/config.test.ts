import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.ts';

const minimal = {
  cloudstack: { endpoint: 'https://cloud.example.com/client/api', apiKey: 'k', secretKey: 's' },
  repositories: [{ name: 'repo1', url: 'ssh://sendense-repo@10.0.0.5/srv/sendense' }],
};

describe('config', () => {
  it('fills defaults around a minimal file', () => {
    const c = parseConfig(JSON.stringify(minimal), {});
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8480, insecureHttp: false, maxConnections: 1024 });
    expect(c.database.path).toBe('/var/lib/sendense/sendense.db');
    expect(c.auth).toMatchObject({ tokenTtlSeconds: 3600, loginRateLimit: { maxAttempts: 5, windowSeconds: 300 }, trustProxy: false });
    expect(c.agents).toMatchObject({ perHostConcurrency: 2, simulate: false, socketPath: '/run/sendense/agent.sock' });
    expect(c.repositories[0].default).toBe(false);
  });

  it('environment variables win over the file', () => {
    const c = parseConfig(JSON.stringify(minimal), {
      SENDENSE_LISTEN: '0.0.0.0:9000', SENDENSE_DB: '/tmp/x.db', SENDENSE_CS_ENDPOINT: 'http://127.0.0.1:8080/client/api',
      SENDENSE_CS_API_KEY: 'K2', SENDENSE_CS_SECRET_KEY: 'S2', SENDENSE_CS_INSECURE: '1', SENDENSE_TOKEN_SECRET: 'x'.repeat(40),
      SENDENSE_REPOSITORIES: 'a=ssh://u@h1/r, /srv/local',
    });
    expect(c.listen).toMatchObject({ host: '0.0.0.0', port: 9000 });
    expect(c.database.path).toBe('/tmp/x.db');
    expect(c.cloudstack).toMatchObject({ endpoint: 'http://127.0.0.1:8080/client/api', apiKey: 'K2', secretKey: 'S2' });
    expect(c.auth.tokenSecret).toBe('x'.repeat(40));
    expect(c.repositories).toEqual([{ name: 'a', url: 'ssh://u@h1/r', default: true }, { name: 'repo2', url: '/srv/local', default: false }]);
    // the environment alone is enough
    expect(parseConfig(undefined, { SENDENSE_CS_ENDPOINT: 'https://h/client/api', SENDENSE_CS_API_KEY: 'k', SENDENSE_CS_SECRET_KEY: 's', SENDENSE_REPOSITORIES: '/srv/r' }).repositories).toHaveLength(1);
    // plain http needs insecure said explicitly
    expect(() => parseConfig(undefined, { SENDENSE_CS_ENDPOINT: 'http://h/client/api', SENDENSE_CS_API_KEY: 'k', SENDENSE_CS_SECRET_KEY: 's', SENDENSE_REPOSITORIES: '/srv/r' }))
      .toThrow(/cloudstack\.endpoint http:\/\/h\/client\/api is plain http.*cloudstack\.insecure: true/);
  });

  it('names every problem', () => {
    const bad = { ...minimal, cloudstack: { endpoint: 'ftp://x', apiKey: '' }, repositories: [{ name: 'a b', url: 'relative/dir' }], listen: { port: 70000 }, extra: 1 };
    let msg = '';
    try { parseConfig(JSON.stringify(bad), {}, 'sendense.json'); } catch (e) { expect(e).toBeInstanceOf(ConfigError); msg = (e as Error).message; }
    for (const part of ['sendense.json', 'cloudstack.endpoint', 'cloudstack.apiKey', 'repositories.0.name', 'repositories.0.url', 'listen.port', 'extra']) expect(msg).toContain(part);
    expect(() => parseConfig('{', {}, 'c.json')).toThrow(/c.json is not JSON/);
    const { secretKey: _s, ...noSecret } = minimal.cloudstack;
    expect(() => parseConfig(JSON.stringify({ ...minimal, cloudstack: noSecret }), {})).toThrow(/cloudstack: give secretKey \(or SENDENSE_CS_SECRET_KEY\) or secretKeyFile/);
    expect(() => parseConfig(JSON.stringify(minimal), { SENDENSE_LISTEN: 'nope' })).toThrow(/host:port/);
    expect(() => parseConfig(JSON.stringify({ ...minimal, auth: { tokenSecret: 'short' } }), {})).toThrow(/at least 32/);
    expect(() => parseConfig(JSON.stringify({ ...minimal, repositories: [{ name: 'a', url: '/x', default: true }, { name: 'b', url: '/y', default: true }] }), {})).toThrow(/at most one repository is the default/);
  });
});
