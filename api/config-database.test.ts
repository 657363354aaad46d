/** database.path (SQLite) or database.url (PostgreSQL), from the file or SENDENSE_DB. */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.ts';

const cs = { endpoint: 'https://cloud.example.com/client/api', apiKey: 'k', secretKey: 's' };
const parse = (database: unknown, env: Record<string, string> = {}) => parseConfig(JSON.stringify({ cloudstack: cs, repositories: [{ name: 'r1', url: '/srv/r1' }], database }), env);

describe('config: database', () => {
  it('a postgres:// url, or a path; SENDENSE_DB picks by its form', () => {
    expect(parse({ url: 'postgres://u:p@db1:5432/sendense', poolSize: 4 }).database).toMatchObject({ url: 'postgres://u:p@db1:5432/sendense', poolSize: 4 });
    expect(parse({ path: '/x.db' }).database.url).toBeUndefined();
    expect(parse({ path: '/x.db' }, { SENDENSE_DB: 'postgresql://u@h/db' }).database.url).toBe('postgresql://u@h/db');
    expect(parse({ url: 'postgres://u@h/db' }, { SENDENSE_DB: '/srv/s.db' }).database).toEqual({ path: '/srv/s.db' });
  });

  it('a wrong URL or both at once: a ConfigError that says what to write', () => {
    expect(() => parse({ url: 'mysql://u@h/db' })).toThrow(/database\.url: must be postgres:\/\/USER:PASSWORD@HOST:PORT\/DATABASE/);
    expect(() => parse({ url: 'postgres://u@h/db', path: '/x.db' })).toThrow(ConfigError);
    expect(() => parse({ url: 'postgres://u@h/db', path: '/x.db' })).toThrow(/give path \(SQLite\) or url \(PostgreSQL\), not both/);
  });
});
