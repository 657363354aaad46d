/**
 * @layer entry
 * `sendense serve [--config FILE]`: runs the control plane (api/server.ts) from a JSON config
 * file and SENDENSE_* environment variables (api/config.ts), prints where it listens, and runs
 * until SIGINT or SIGTERM, then stops cleanly (running backups go on on their agents; the next
 * start finds them again). Exit codes: 0 stopped, 1 failed to start, 2 usage or config error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from '../config.ts';
import { ServeError, startServer } from '../server.ts';
import { SecretFileError } from '../secret-file.ts';
import { linkGatewayFromConfig } from '../agents/link-from-config.ts';
import type { Command } from './main.ts';

export const SERVE_USAGE = `Usage: sendense serve [--config FILE] [--insecure-http]

Runs the Sendense control plane. The config file is JSON (see api/config.ts); environment
variables override it: SENDENSE_LISTEN (host:port), SENDENSE_DB, SENDENSE_CS_ENDPOINT,
SENDENSE_CS_API_KEY, SENDENSE_CS_SECRET_KEY, SENDENSE_TOKEN_SECRET, SENDENSE_REPOSITORIES.
Secrets are never taken from the command line: put them in the file, in files it names
(auth.tokenSecretFile, cloudstack.secretKeyFile; mode 600) or in the environment.

It listens with TLS when listen.tls {certFile, keyFile} is set. Plain HTTP is for loopback
addresses (a TLS proxy in front); --insecure-http (listen.insecureHttp) allows it on others.
`;

export const serveCommand: Command = async (argv) => {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { config: { type: 'string', short: 'c' }, 'insecure-http': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    process.stderr.write(`sendense serve: ${(e as Error).message}\n${SERVE_USAGE}`);
    return 2;
  }
  if (values.help) { process.stdout.write(SERVE_USAGE); return 0; }
  let config;
  try {
    const text = values.config === undefined ? undefined : readFileSync(values.config, 'utf8');
    config = parseConfig(text, process.env, values.config ?? 'environment');
    if (values['insecure-http']) config.listen.insecureHttp = true;
  } catch (e) {
    if (e instanceof ConfigError || (e as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`sendense serve: ${(e as Error).message}\n`);
      return 2;
    }
    throw e;
  }
  let running;
  try {
    running = await startServer(config, { gateway: linkGatewayFromConfig });
  } catch (e) {
    process.stderr.write(`sendense serve: ${e instanceof ServeError || e instanceof SecretFileError ? e.message : (e as Error).stack ?? e}\n`);
    return 1;
  }
  if (config.listen.insecureHttp && !config.listen.tls) process.stderr.write(`sendense: plain HTTP on ${config.listen.host} (--insecure-http): passwords and tokens cross the network in clear\n`);
  // the signal handlers are in place before the line that says the server is up
  const stopped = new Promise<void>((resolve) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.stdout.write(`sendense: listening on ${running.url} (API ${running.url}/api/v1, OpenAPI ${running.url}/api/openapi.json)\n`);
  await stopped;
  process.stdout.write('sendense: stopping\n');
  await running.close();
  return 0;
};
