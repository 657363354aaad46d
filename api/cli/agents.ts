/**
 * @layer entry
 * `sendense agents deploy|upgrade|remove|status`: the agent on CloudStack's KVM hosts, from the
 * control plane's machine (api/agents/deploy/, wired from the config by from-config.ts). Hosts
 * are CloudStack's (`listHosts type=Routing hypervisor=KVM`, Up and Enabled unless
 * --include-unavailable), picked with --host/--zone/--cluster, or named with --address. SSH as
 * --ssh-user (root, or a user with sudo without a password) with --ssh-key or a password from
 * --ssh-password-file; host keys are pinned in agents.knownHostsFile, an unknown one is shown with
 * its fingerprint and accepted only with --accept HOST=SHA256:…. A bar per host on a terminal,
 * a line per step otherwise, --json for the report. Exit 0 when no host failed, 1 when one did,
 * 2 for a usage or config error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from '../config.ts';
import { deployFleet, removeFleet, rollingUpgrade, statusFleet } from '../agents/deploy/fleet.ts';
import { deploymentFromConfig } from '../agents/deploy/from-config.ts';
import { DeployError } from '../agents/deploy/errors.ts';
import { foldEvent, renderLine, type HostLine } from '../agents/deploy/progress.ts';
import { summarize, type DeployEvent, type HostRow } from '../agents/deploy/report.ts';
import { resolveTargets } from '../agents/deploy/targets.ts';
import type { Command } from './main.ts';

export const AGENTS_USAGE = `Usage:
  sendense agents deploy  [HOSTS] SSH [--concurrency N] [--downgrade] [--json]   install / converge the agent
  sendense agents upgrade [HOSTS] SSH [--drain-timeout SECONDS] [--json]          rolling: one cluster at a time, after each host's jobs
  sendense agents remove  [HOSTS] SSH [--purge] [--json]                          uninstall (--purge: config, state and repository key too)
  sendense agents status  [HOSTS] SSH [--json]                                    version, service and health per host

HOSTS (default: every KVM host CloudStack has Up and Enabled):
  --host ID|NAME …  --zone ID  --cluster ID  --include-unavailable
  --address [NAME=]ADDRESS[:PORT] …   hosts CloudStack is not asked about
SSH:
  --ssh-user USER (default root)  --ssh-key FILE | --ssh-password-file FILE
  --accept HOST=SHA256:… …         pin a host's unknown key (HOST: its address, name or id)
Common: --config FILE (default /etc/sendense/sendense.json)
`;

function fail(msg: string): number {
  process.stderr.write(`sendense agents: ${msg}\n`);
  return 2;
}

export const agentsCommand: Command = async (argv) => {
  const [verb, ...rest] = argv;
  if (!verb || verb === '--help' || verb === '-h') { process.stdout.write(AGENTS_USAGE); return verb ? 0 : 2; }
  if (!['deploy', 'upgrade', 'remove', 'status'].includes(verb)) return fail(`unknown verb '${verb}'\n${AGENTS_USAGE}`);
  let values;
  try {
    ({ values } = parseArgs({
      args: rest, strict: true, options: {
        config: { type: 'string', short: 'c' }, host: { type: 'string', multiple: true }, address: { type: 'string', multiple: true },
        zone: { type: 'string' }, cluster: { type: 'string' }, 'include-unavailable': { type: 'boolean' },
        'ssh-user': { type: 'string' }, 'ssh-key': { type: 'string' }, 'ssh-password-file': { type: 'string' }, accept: { type: 'string', multiple: true },
        concurrency: { type: 'string' }, downgrade: { type: 'boolean' }, 'drain-timeout': { type: 'string' }, purge: { type: 'boolean' }, json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return fail(`${(e as Error).message}\n${AGENTS_USAGE}`);
  }
  if (values.help) { process.stdout.write(AGENTS_USAGE); return 0; }
  const accept: Record<string, string> = {};
  for (const a of values.accept ?? []) {
    const m = /^([^=]+)=(SHA256:[A-Za-z0-9+/]{43})$/.exec(a);
    if (!m) return fail(`--accept ${a}: give HOST=SHA256:… (the fingerprint the host's row showed, checked on the host with ssh-keygen -lf)`);
    accept[m[1]] = m[2];
  }
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1)) return fail(`--concurrency must be a whole number ≥ 1 (got '${values.concurrency}')`);
  let password: string | undefined;
  if (values['ssh-password-file']) {
    try { password = readFileSync(values['ssh-password-file'], 'utf8').replace(/\r?\n$/, ''); } catch (e) { return fail(`--ssh-password-file: ${(e as Error).message}`); }
  }
  const credentials = { user: values['ssh-user'] ?? 'root', ...(values['ssh-key'] ? { identityFile: values['ssh-key'] } : {}), ...(password !== undefined ? { password } : {}) };
  if (!credentials.identityFile && password === undefined) return fail('give --ssh-key FILE or --ssh-password-file FILE for the hosts\' admin user');

  let wiring;
  const configFile = values.config ?? '/etc/sendense/sendense.json';
  try {
    const config = parseConfig(readFileSync(configFile, 'utf8'), process.env, configFile);
    wiring = deploymentFromConfig(config, { withPackages: verb === 'deploy' || verb === 'upgrade' });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof DeployError || (e as NodeJS.ErrnoException).code === 'ENOENT') return fail((e as Error).message);
    throw e;
  }
  const ac = new AbortController();
  const onSignal = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  try {
    const sel = await resolveTargets(wiring.cloudstack, {
      hosts: values.host, zoneId: values.zone, clusterId: values.cluster, includeUnavailable: values['include-unavailable'], addresses: values.address,
      fromCloudStack: values.address?.length ? Boolean(values.host?.length || values.zone || values.cluster) : undefined,
    }, ac.signal);
    for (const s of sel.skipped) process.stderr.write(`sendense agents: skipping ${s.name}: ${s.reason}\n`);
    if (sel.unknown.length) return fail(`CloudStack has no KVM host ${sel.unknown.map((u) => `'${u}'`).join(', ')}`);
    if (!sel.targets.length) return fail('no hosts to work on');

    const tty = process.stdout.isTTY && !values.json;
    const lines = new Map<string, HostLine>();
    let drawn = 0;
    const draw = () => {
      const out = [...lines.values()].map((l) => renderLine(l, 24, Math.min(24, Math.max(...[...lines.keys()].map((k) => k.length)))));
      process.stdout.write(`${drawn ? `\x1b[${drawn}A` : ''}${out.map((o) => `\x1b[2K${o}`).join('\n')}\n`);
      drawn = out.length;
    };
    let last = 0;
    const emit = (e: DeployEvent) => {
      const before = lines.get(e.type === 'host' ? e.host : e.type === 'row' ? e.row.name : '')?.step;
      foldEvent(lines, e);
      if (values.json) return;
      if (tty) { if (e.type !== 'host' || Date.now() - last > 200 || e.step !== before) { last = Date.now(); draw(); } return; }
      if (e.type === 'row') process.stdout.write(`${renderLine(lines.get(e.row.name)!)}\n`);
      else if (e.type === 'host' && e.step !== before && e.step !== 'finished') process.stdout.write(`${e.host}: ${e.step}${e.message ? ` ${e.message}` : ''}\n`);
    };
    const settings = wiring.settings(credentials, accept);
    const o = { concurrency: concurrency ?? wiring.concurrency, signal: ac.signal, emit };
    let rows: HostRow[];
    if (verb === 'deploy') rows = await deployFleet(wiring.deps, sel.targets, { ...settings, downgrade: values.downgrade }, o);
    else if (verb === 'upgrade') {
      const drain = values['drain-timeout'] === undefined ? undefined : Number(values['drain-timeout']) * 1000;
      rows = await rollingUpgrade(wiring.deps, sel.targets, settings, {
        ...o, drainTimeoutMs: drain,
        runningJobs: async (t) => (await wiring.deps.probe.health(t, { signal: ac.signal }).catch(() => ({ runningJobs: 0 }))).runningJobs,
      });
    } else if (verb === 'remove') rows = await removeFleet(wiring.deps, sel.targets, settings, Boolean(values.purge), o);
    else rows = await statusFleet(wiring.deps, sel.targets, settings, o);
    if (values.json) process.stdout.write(`${JSON.stringify({ rows, skipped: sel.skipped }, null, 2)}\n`);
    else {
      for (const r of rows.filter((x) => x.code === 'host-key-unknown')) {
        process.stdout.write(`\n${r.name} shows ${r.details?.fingerprint}: check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run again with --accept ${r.address}=${r.details?.fingerprint}\n`);
      }
      process.stdout.write(`sendense agents ${verb}: ${summarize(rows)}\n`);
    }
    return rows.some((r) => r.outcome === 'failed') ? 1 : 0;
  } catch (e) {
    process.stderr.write(`sendense agents: ${(e as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
  }
};
