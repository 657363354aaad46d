/**
 * An unprivileged PostgreSQL 15 cluster for tests: Debian's binaries (/usr/lib/postgresql/15/bin),
 * a fresh data directory under the system temp dir, owned by the `postgres` system user (initdb
 * and pg_ctl refuse to run as root), listening on 127.0.0.1 at a free port and on a unix socket
 * in the data directory, no systemd. Password authentication (scram-sha-256) for the superuser
 * `sendense`, so a test can also see credentials refused.
 *
 * It fails — never skips — when PostgreSQL is missing or does not start, naming the log.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
const OS_USER = 'postgres';

export interface PostgresCluster {
  host: string;
  port: number;
  user: string;
  password: string;
  dir: string;
  /** postgres://sendense:…@127.0.0.1:port/<database> */
  url(database?: string): string;
  /** a new, empty database; returns its URL */
  createDatabase(name: string): Promise<string>;
  /** stops the server (mode fast: clients are disconnected; immediate: like a crash) */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /** stops the server and removes its directory */
  destroy(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function uidGid(user: string): { uid: number; gid: number } {
  const r = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) {
    throw new Error(`[lab] [postgres] no system user '${user}' to run PostgreSQL as: install Debian's postgresql package (apt-get install postgresql-15)`);
  }
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

function asPostgres(cmd: string, args: string[], what: string, log?: string): void {
  const r = spawnSync('runuser', ['-u', OS_USER, '--', path.join(PG_BIN, cmd), ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) {
    const tail = log && existsSync(log) ? `\n${readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')}` : '';
    throw new Error(`[lab] [postgres] ${what} failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim()}${tail}`);
  }
}

/** initdb + pg_ctl start; resolves once the server accepts connections. */
export async function startPostgres(opts: { password?: string } = {}): Promise<PostgresCluster> {
  if (!existsSync(path.join(PG_BIN, 'initdb'))) {
    throw new Error(`[lab] [postgres] ${PG_BIN}/initdb is missing: install Debian's postgresql package (apt-get install postgresql-15)`);
  }
  const { uid, gid } = uidGid(OS_USER);
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-pg-'));
  chownSync(dir, uid, gid);
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const password = opts.password ?? `pw-${Math.random().toString(36).slice(2)}`;
  const pwfile = path.join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  chownSync(pwfile, uid, gid);
  const port = await freePort();
  const user = 'sendense';
  asPostgres('initdb', ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], 'initdb');
  rmSync(pwfile, { force: true });
  const start = () => asPostgres('pg_ctl', [
    '-D', data, '-l', log, '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start',
  ], `starting PostgreSQL on 127.0.0.1:${port} (log ${log})`, log);
  start();
  const url = (database = 'postgres') => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  let running = true;
  const stop = (mode: 'fast' | 'immediate' = 'fast') => {
    if (!running) return;
    asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop'], 'stopping PostgreSQL', log);
    running = false;
  };
  return {
    host: '127.0.0.1', port, user, password, dir, url,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try { await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`); } finally { await c.end(); }
      return url(name);
    },
    stop,
    start() { if (!running) { start(); running = true; } },
    destroy() {
      try { stop('immediate'); } finally { rmSync(dir, { recursive: true, force: true }); }
    },
  };
}
