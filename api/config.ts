/**
 * @layer logic
 * The control plane's configuration: a JSON file (zod-validated) plus environment variables,
 * which win over the file. `sendense serve --config FILE`:
 *
 * {
 *   "listen":       { "host": "127.0.0.1", "port": 8480, "tls": { "certFile": "…", "keyFile": "…" },
 *                     "insecureHttp": false, "maxConnections": 1024 },
 *   "database":     { "path": "/var/lib/sendense/sendense.db" } | { "url": "postgres://sendense:…@db1:5432/sendense", "poolSize": 10 },
 *   "cloudstack":   { "endpoint": "https://cloud.example.com/client/api", "apiKey": "…", "secretKey": "…",
 *                     "secretKeyFile": "/etc/sendense/cloudstack.secret" (instead of secretKey),
 *                     "caFile": "/etc/sendense/cloudstack-ca.pem", "insecure": false, "timeoutSeconds": 60 },
 *   "auth":         { "tokenSecret": "≥ 32 characters" | "tokenSecretFile": "/etc/sendense/token.secret",
 *                     "tokenTtlSeconds": 3600, "apiKeyCacheSeconds": 60,
 *                     "loginRateLimit": { "maxAttempts": 5, "windowSeconds": 300, "perUserMaxAttempts": 20, "perAddressMaxAttempts": 50 },
 *                     "trustProxy": false, "trustedProxies": ["127.0.0.1", "10.0.0.0/24"] },
 *   "limits":       { "maxBodyBytes": 1048576, "sseStreamsPerUser": 8 },
 *   "repositories": [ { "name": "repo1", "url": "ssh://sendense-repo@10.0.0.5/srv/sendense",
 *                       "capacityBytes": 10995116277760, "default": true } ],
 *   "agents":       { "user": "sendense", "port": 22, "identityFile": "/etc/sendense/id_ed25519",
 *                     "knownHostsFile": "/etc/sendense/known_hosts", "socketPath": "/run/sendense/agent.sock",
 *                     "repoIdentityFile": "/var/lib/sendense-agent/.ssh/id_ed25519 (on the KVM hosts)", "repoKnownHostsFile": "…",
 *                     "perHostConcurrency": 2, "heartbeatSeconds": 30, "simulate": false,
 *                     "deploy": { "packagesDir": "/var/lib/sendense/agent-packages", "concurrency": 4,
 *                                 "repoKnownHostsFile": "/etc/sendense/repo_known_hosts",
 *                                 "repository": { "host": "10.0.0.5", "user": "sendense-repo", "identityFile": "…", "knownHostsFile": "…" } } },
 *   "discovery":    { "intervalSeconds": 300 },
 *   "scheduler":    { "tickSeconds": 30 },
 *   "plugin":       { "uiOrigins": ["https://cloud.example.com"] }   (CloudStack UIs that may frame the
 *                     plug-in and call the API from a browser: CSP frame-ancestors and CORS, docs/PLUGIN.md)
 * }
 *
 * Environment: SENDENSE_LISTEN (host:port), SENDENSE_DB (a SQLite path, or a postgres:// URL), SENDENSE_CS_ENDPOINT,
 * SENDENSE_CS_API_KEY, SENDENSE_CS_SECRET_KEY (root admin keys, as `sendense cs` uses), SENDENSE_CS_INSECURE=1,
 * SENDENSE_TOKEN_SECRET, SENDENSE_REPOSITORIES (comma-separated `name=url`, the first the default).
 * `agents.simulate: true` runs the in-memory agent (demos and tests: its points are fake).
 *
 * Secrets come from this file, from files it names (`auth.tokenSecretFile`,
 * `cloudstack.secretKeyFile`: refused when others may read them, api/secret-file.ts) or from the
 * environment — never from the command line. A plain `http://` CloudStack endpoint needs
 * `cloudstack.insecure: true` (the users' passwords would cross the network in clear); a listen
 * address that is not loopback needs `listen.tls` or `listen.insecureHttp` (api/listen.ts).
 */
import { z } from 'zod';
import { AGENT_SOCKET } from '../agent/daemon/socket-path.ts';

const seconds = (def: number, max = 86_400 * 30) => z.number().int().min(1).max(max).default(def);

const RepositoryConfig = z.object({
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
  url: z.string().min(1).refine((u) => u.startsWith('/') || /^ssh:\/\/[^/]+\/.+/.test(u), 'an absolute directory or ssh://user@host[:port]/path'),
  capacityBytes: z.number().int().positive().optional(),
  default: z.boolean().default(false),
}).strict();

export const ConfigSchema = z.object({
  listen: z.object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(8480),
    /** HTTPS with this certificate chain and key (PEM files) */
    tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
    /** plain HTTP on a non-loopback address (behind nothing): only when said explicitly */
    insecureHttp: z.boolean().default(false),
    maxConnections: z.number().int().min(1).max(100_000).default(1024),
  }).strict().default({ host: '127.0.0.1', port: 8480, insecureHttp: false, maxConnections: 1024 }),
  /** SQLite at `path` (the default), or PostgreSQL at `url` (postgres://user:password@host:port/database; several instances may share it) */
  database: z.object({
    path: z.string().min(1).default('/var/lib/sendense/sendense.db'),
    url: z.string().regex(/^postgres(ql)?:\/\/.+/, 'must be postgres://USER:PASSWORD@HOST:PORT/DATABASE (or set database.path for SQLite)').optional(),
    /** PostgreSQL connections this instance keeps (default 10) */
    poolSize: z.number().int().min(1).max(100).optional(),
  }).strict().default({ path: '/var/lib/sendense/sendense.db' }),
  cloudstack: z.object({
    endpoint: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL, e.g. https://cloud.example.com/client/api' }),
    apiKey: z.string().min(1),
    secretKey: z.string().min(1).optional(),
    secretKeyFile: z.string().min(1).optional(),
    caFile: z.string().min(1).optional(),
    insecure: z.boolean().default(false),
    timeoutSeconds: seconds(60, 3600),
  }).strict(),
  auth: z.object({
    tokenSecret: z.string().min(32, 'must be at least 32 characters').optional(),
    tokenSecretFile: z.string().min(1).optional(),
    tokenTtlSeconds: seconds(3600, 86_400),
    apiKeyCacheSeconds: z.number().int().min(0).max(3600).default(60),
    loginRateLimit: z.object({
      maxAttempts: z.number().int().min(1).max(1000).default(5), windowSeconds: seconds(300, 86_400),
      /** failed sign-ins per user name from anywhere, and per client address for any name, in the same window */
      perUserMaxAttempts: z.number().int().min(1).max(100_000).default(20),
      perAddressMaxAttempts: z.number().int().min(1).max(100_000).default(50),
    }).strict().default({ maxAttempts: 5, windowSeconds: 300, perUserMaxAttempts: 20, perAddressMaxAttempts: 50 }),
    /** take the client address from X-Forwarded-For (behind a reverse proxy only): the right-most hop that is not a trusted proxy */
    trustProxy: z.boolean().default(false),
    /** the proxies in front (addresses or CIDR ranges; default loopback) */
    trustedProxies: z.array(z.string().min(1)).max(256).default([]),
  }).strict().default({
    tokenTtlSeconds: 3600, apiKeyCacheSeconds: 60, loginRateLimit: { maxAttempts: 5, windowSeconds: 300, perUserMaxAttempts: 20, perAddressMaxAttempts: 50 },
    trustProxy: false, trustedProxies: [],
  }),
  limits: z.object({
    /** every request body, checked before sign-in */
    maxBodyBytes: z.number().int().min(1024).max(1024 ** 3).default(1024 * 1024),
    sseStreamsPerUser: z.number().int().min(1).max(1000).default(8),
  }).strict().default({ maxBodyBytes: 1024 * 1024, sseStreamsPerUser: 8 }),
  repositories: z.array(RepositoryConfig).min(1, 'name at least one repository')
    .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, 'repository names must be unique')
    .refine((rs) => rs.filter((r) => r.default).length <= 1, 'at most one repository is the default'),
  agents: z.object({
    user: z.string().min(1).default('sendense'),
    port: z.number().int().min(1).max(65_535).default(22),
    identityFile: z.string().min(1).optional(),
    knownHostsFile: z.string().min(1).optional(),
    socketPath: z.string().min(1).default(AGENT_SOCKET),
    /** the repository's SSH key and known_hosts file on the KVM hosts (default: the agent user's ~/.ssh) */
    repoIdentityFile: z.string().min(1).optional(),
    repoKnownHostsFile: z.string().min(1).optional(),
    perHostConcurrency: z.number().int().min(1).max(64).default(2),
    heartbeatSeconds: seconds(30, 3600),
    simulate: z.boolean().default(false),
    /** `sendense agents deploy|upgrade|remove|status` (docs/ADMIN.md) */
    deploy: z.object({
      /** the sendense-agent .deb / .rpm files handed out (the newest version there) */
      packagesDir: z.string().min(1).default('/var/lib/sendense/agent-packages'),
      concurrency: z.number().int().min(1).max(64).default(4),
      /** known_hosts lines pinning the repository host, as the agents reach it (written to every host) */
      repoKnownHostsFile: z.string().min(1).optional(),
      /** the repository host, logged in to as the repository's user, to let each host's own key in */
      repository: z.object({
        host: z.string().min(1), port: z.number().int().min(1).max(65_535).default(22), user: z.string().min(1),
        identityFile: z.string().min(1), knownHostsFile: z.string().min(1), authorizedKeysFile: z.string().min(1).optional(),
      }).strict().optional(),
    }).strict().optional(),
  }).strict().default({ user: 'sendense', port: 22, socketPath: AGENT_SOCKET, perHostConcurrency: 2, heartbeatSeconds: 30, simulate: false }),
  discovery: z.object({ intervalSeconds: seconds(300) }).strict().default({ intervalSeconds: 300 }),
  scheduler: z.object({ tickSeconds: seconds(30, 3600) }).strict().default({ tickSeconds: 30 }),
  plugin: z.object({
    uiOrigins: z.array(z.string().regex(/^https?:\/\/[^/?#]+\/?$/, 'must be an origin: scheme://host[:port]')).max(50).default([]),
  }).strict().default({ uiOrigins: [] }),
}).strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});

/** Overlays the environment variables on the file's JSON (before validation). */
export function applyEnv(input: unknown, env: Record<string, string | undefined>): Json {
  const c = { ...obj(input) };
  if (env.SENDENSE_LISTEN) {
    const m = /^(.*):(\d+)$/.exec(env.SENDENSE_LISTEN);
    if (!m) throw new ConfigError(`[config] SENDENSE_LISTEN must be host:port (got ${env.SENDENSE_LISTEN})`);
    c.listen = { ...obj(c.listen), host: m[1].replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(m[2]) };
  }
  const db = obj(c.database);
  if (typeof db.path === 'string' && typeof db.url === 'string') throw new ConfigError('[config] database: give path (SQLite) or url (PostgreSQL), not both');
  if (env.SENDENSE_DB) {
    const { path: _p, url: _u, ...rest } = db;
    // a postgres:// URL is PostgreSQL, anything else a SQLite file
    c.database = /^postgres(ql)?:\/\//.test(env.SENDENSE_DB) ? { ...rest, url: env.SENDENSE_DB } : { ...rest, path: env.SENDENSE_DB };
  }
  const cs = { ...obj(c.cloudstack) };
  if (env.SENDENSE_CS_ENDPOINT) cs.endpoint = env.SENDENSE_CS_ENDPOINT;
  if (env.SENDENSE_CS_API_KEY) cs.apiKey = env.SENDENSE_CS_API_KEY;
  if (env.SENDENSE_CS_SECRET_KEY) cs.secretKey = env.SENDENSE_CS_SECRET_KEY;
  if (env.SENDENSE_CS_INSECURE === '1' || env.SENDENSE_CS_INSECURE === 'true') cs.insecure = true;
  if (Object.keys(cs).length) c.cloudstack = cs;
  if (env.SENDENSE_TOKEN_SECRET) c.auth = { ...obj(c.auth), tokenSecret: env.SENDENSE_TOKEN_SECRET };
  if (env.SENDENSE_REPOSITORIES) {
    c.repositories = env.SENDENSE_REPOSITORIES.split(',').map((s) => s.trim()).filter(Boolean).map((s, i) => {
      const eq = s.indexOf('=');
      return eq > 0 ? { name: s.slice(0, eq), url: s.slice(eq + 1), default: i === 0 } : { name: `repo${i + 1}`, url: s, default: i === 0 };
    });
  }
  return c;
}

/** Parses the file's text (JSON) with the environment over it; a ConfigError names every problem. */
export function parseConfig(text: string | undefined, env: Record<string, string | undefined>, where = 'config'): Config {
  let json: unknown = {};
  if (text !== undefined) {
    try { json = JSON.parse(text); } catch (e) { throw new ConfigError(`[config] ${where} is not JSON: ${(e as Error).message}`, { cause: e }); }
  }
  const r = ConfigSchema.safeParse(applyEnv(json, env));
  if (!r.success) {
    throw new ConfigError(`[config] ${where}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  if (r.data.auth.tokenSecret && r.data.auth.tokenSecretFile) throw new ConfigError(`[config] ${where}: auth: give tokenSecret or tokenSecretFile, not both`);
  const cs = r.data.cloudstack;
  if (!cs.secretKey === !cs.secretKeyFile) throw new ConfigError(`[config] ${where}: cloudstack: give secretKey (or SENDENSE_CS_SECRET_KEY) or secretKeyFile, one of them`);
  if (cs.endpoint.startsWith('http://') && !cs.insecure) {
    throw new ConfigError(`[config] ${where}: cloudstack.endpoint ${cs.endpoint} is plain http: sign-in passwords would cross the network in clear; use https://, or set cloudstack.insecure: true (test setups only)`);
  }
  return r.data;
}
