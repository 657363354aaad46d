/**
 * @layer entry
 * `sendense cs COMMAND key=value … [--endpoint URL] [--api-key K] [--secret-key S]`: a small
 * cloudmonkey. Signs (v3) and sends one CloudStack API command, waits for its async job, prints
 * the JSON result; exits 1 with CloudStack's error text on failure, 2 on a usage error.
 * It is how an admin checks connectivity and keys. Environment: SENDENSE_CS_ENDPOINT,
 * SENDENSE_CS_API_KEY, SENDENSE_CS_SECRET_KEY (flags win).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CloudStackClient } from '../cloudstack/client.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import { createNodeFetch } from '../cloudstack/node-fetch.ts';
import type { Command } from './main.ts';

export const CS_USAGE = `Usage: sendense cs COMMAND [key=value …] [options]

Options:
  --endpoint URL       CloudStack API endpoint, e.g. https://cloud.example.com/client/api  (SENDENSE_CS_ENDPOINT)
  --api-key K          API key     (SENDENSE_CS_API_KEY)
  --secret-key S       secret key  (SENDENSE_CS_SECRET_KEY)
  --username U --password P [--domain PATH]   log in as a user instead of using keys
  --post               send as a POST form
  --all                list commands: fetch every page
  --no-wait            do not wait for an async job; print its job id
  --ca FILE            trust this CA certificate (PEM)
  --insecure           do not verify the TLS certificate (never in production)
  --timeout SECONDS    per-request timeout (default 60)
`;

export interface CsIo {
  env: NodeJS.ProcessEnv;
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function runCs(argv: string[], io: CsIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        endpoint: { type: 'string' }, 'api-key': { type: 'string' }, 'secret-key': { type: 'string' },
        username: { type: 'string' }, password: { type: 'string' }, domain: { type: 'string' },
        post: { type: 'boolean' }, all: { type: 'boolean' }, 'no-wait': { type: 'boolean' },
        ca: { type: 'string' }, insecure: { type: 'boolean' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`sendense cs: ${(e as Error).message}\n${CS_USAGE}`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  if (o.help) { io.out(CS_USAGE); return 0; }
  const [command, ...pairs] = positionals;
  const endpoint = o.endpoint ?? io.env.SENDENSE_CS_ENDPOINT;
  const apiKey = o['api-key'] ?? io.env.SENDENSE_CS_API_KEY;
  const secretKey = o['secret-key'] ?? io.env.SENDENSE_CS_SECRET_KEY;
  const params: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) { io.err(`sendense cs: '${p}' is not key=value\n`); return 2; }
    params[p.slice(0, eq)] = p.slice(eq + 1);
  }
  if (!command) { io.err(`sendense cs: no command\n${CS_USAGE}`); return 2; }
  if (!endpoint) { io.err('sendense cs: no endpoint (--endpoint or SENDENSE_CS_ENDPOINT)\n'); return 2; }
  if (!o.username && (!apiKey || !secretKey)) { io.err('sendense cs: no keys (--api-key/--secret-key or SENDENSE_CS_API_KEY/SENDENSE_CS_SECRET_KEY), or --username/--password\n'); return 2; }
  const timeoutS = o.timeout === undefined ? 60 : Number(o.timeout);
  if (!(timeoutS > 0)) { io.err('sendense cs: --timeout must be a positive number of seconds\n'); return 2; }

  try {
    const fetch = createNodeFetch({ ca: o.ca ? readFileSync(o.ca) : undefined, insecure: o.insecure, warn: io.err.bind(null) });
    const base = { endpoint, fetch, requestTimeoutMs: timeoutS * 1000, method: o.post ? 'POST' as const : 'auto' as const };
    const cs = o.username
      ? await CloudStackClient.login({ ...base, username: o.username, password: o.password ?? '', domain: o.domain })
      : new CloudStackClient({ ...base, credentials: { apiKey: apiKey!, secretKey: secretKey! } });
    let result: unknown;
    if (o.all) {
      result = await cs.listAll(command, params);
    } else {
      const r = await cs.call(command, params, o.post ? { method: 'POST' } : {});
      result = typeof r.jobid === 'string' && command !== 'queryAsyncJobResult' && !o['no-wait']
        ? await cs.waitForJob(r.jobid, { command })
        : r;
    }
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    if (o.username) await cs.logout().catch(() => {});
    return 0;
  } catch (e) {
    if (e instanceof CloudStackError) {
      const code = e.errorcode ?? e.status;
      io.err(`sendense cs: ${e.command}${e.jobId ? ` (job ${e.jobId})` : ''}: ${code !== undefined ? `${code} ` : ''}${e.errortext}\n`);
      return 1;
    }
    io.err(`sendense cs: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

export const csCommand: Command = (argv) =>
  runCs(argv, { env: process.env, out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`) });
