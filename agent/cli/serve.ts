/**
 * @layer entry
 * `sendense-agent serve`: the agent daemon. A Hono API on a unix socket — no TCP port
 * — that the control plane reaches through SSH: health, domains, backup/restore/verify jobs with a
 * progress stream, cancel. Jobs are journaled on local disk; jobs a crash cut off are marked
 * failed at start, scratch files (image-*, restore-test-*) a crash left are removed before any job
 * runs, and qemu-nbd exports a killed agent left are stopped. SIGTERM/SIGINT abort the
 * running jobs (their watchdogs end libvirt jobs, the VMs are never left paused) and then exit.
 *
 *   --socket PATH        SENDENSE_AGENT_SOCKET, default /run/sendense/agent.sock (mode 0600)
 *   --journal DIR        SENDENSE_AGENT_JOURNAL, default /var/lib/sendense-agent/journal
 *   --work-dir DIR       SENDENSE_AGENT_WORKDIR, default /var/lib/sendense-agent/jobs
 *   --concurrency N      SENDENSE_AGENT_CONCURRENCY, default 2 jobs at once
 *   --socket-owner USER  give the socket to USER (name or uid[:gid]; default: the agent's user)
 *   --config FILE        SENDENSE_AGENT_CONFIG: JSON with the same settings (serve-config.ts);
 *                        options and variables win over it (the packages use /etc/sendense/agent.json);
 *                        its `allow` is the daemon's policy on repositories, SSH files, restore
 *                        files and in-place volumes (agent/daemon/policy.ts), set only there
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { createAgentApp } from '../daemon/app.ts';
import { capabilityProblems, probeCapabilities } from '../daemon/capabilities.ts';
import { FileJournal } from '../daemon/file-journal.ts';
import { serveOnSocket } from '../daemon/server.ts';
import { AGENT_SOCKET } from '../daemon/socket-path.ts';
import { daemonEngine, hostEngine } from '../engine/host.ts';
import { AGENT_VERSION } from '../version.ts';
import { run } from '../system/run.ts';
import { parse, UsageError } from './args.ts';
import { parseAgentConfig, policyOf } from './serve-config.ts';
import { NodeHostFacts, FileVolumeRecord } from '../daemon/host-facts-node.ts';
import { DaemonGuard } from '../daemon/policy-guard.ts';
import path from 'node:path';
import { NodeLocalFiles } from '../restore/local-files.ts';
import { removeScratchLeftovers } from '../restore/scratch.ts';

export const DEFAULT_SOCKET = AGENT_SOCKET;
export const DEFAULT_JOURNAL = '/var/lib/sendense-agent/journal';

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} sendense-agent: ${msg}\n`);
}

async function resolveOwner(spec: string | undefined): Promise<{ uid: number; gid: number } | undefined> {
  if (!spec) return undefined;
  const m = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (m) return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  try {
    const uid = Number((await run('id', ['-u', spec])).stdout.trim());
    const gid = Number((await run('id', ['-g', spec])).stdout.trim());
    return { uid, gid };
  } catch {
    throw new UsageError(`--socket-owner: no user '${spec}' on this host`);
  }
}

export async function serveCommand(argv: string[]): Promise<number> {
  try {
    return await serve(argv);
  } catch (e) {
    process.stderr.write(`sendense-agent: ${(e as Error).message.replace(/\s+/g, ' ')}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

async function serve(argv: string[]): Promise<number> {
  const o = parse(argv, {
    socket: { type: 'string' }, journal: { type: 'string' }, 'work-dir': { type: 'string' },
    concurrency: { type: 'string' }, 'socket-owner': { type: 'string' }, config: { type: 'string' },
  });
  const configFile = o.config ?? process.env.SENDENSE_AGENT_CONFIG;
  const f = configFile ? parseAgentConfig(await readFile(configFile, 'utf8').catch((e: Error) => { throw new UsageError(`--config: cannot read ${configFile}: ${e.message}`); }), configFile) : {};
  const socketPath = o.socket ?? process.env.SENDENSE_AGENT_SOCKET ?? f.socket ?? DEFAULT_SOCKET;
  const journalDir = o.journal ?? process.env.SENDENSE_AGENT_JOURNAL ?? f.journal ?? DEFAULT_JOURNAL;
  if (o['work-dir'] ?? f.workDir) process.env.SENDENSE_AGENT_WORKDIR = o['work-dir'] ?? process.env.SENDENSE_AGENT_WORKDIR ?? f.workDir;
  const concurrency = Number(o.concurrency ?? process.env.SENDENSE_AGENT_CONCURRENCY ?? f.concurrency ?? 2);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be a whole number ≥ 1 (got '${o.concurrency}')`);
  const owner = await resolveOwner(o['socket-owner'] ?? f.socketOwner);
  const policy = policyOf(f, configFile);

  const journal = await FileJournal.open(journalDir, { report: log });
  // the one engine of this process: its hypervisor also answers the domain listings
  const engine = hostEngine();
  const hypervisor = engine.hypervisor;
  const guard = new DaemonGuard({ policy, facts: new NodeHostFacts(hypervisor), volumes: new FileVolumeRecord(path.join(path.dirname(journalDir), 'known-volumes.json')) });
  const agent = createAgentApp({
    engine: daemonEngine(engine), journal, hypervisor, guard, version: AGENT_VERSION, hostname: os.hostname(),
    probe: probeCapabilities, problems: capabilityProblems, concurrency, workDir: engine.workDir(), log,
  });
  // the socket first: it refuses to start while another daemon serves there (and would be
  // running jobs this one must not mark failed); requests wait for start() below
  const server = await serveOnSocket(agent.app.fetch, { socketPath, owner });
  const jobs = engine.workDir();
  // a crash's scratch files (image-*, restore-test-*) go before any job runs
  const scratch = await removeScratchLeftovers(new NodeLocalFiles(), jobs).catch((e) => { log(`removing scratch leftovers under ${jobs}: ${(e as Error).message}`); return []; });
  if (scratch.length) log(`removed ${scratch.length} scratch file(s) an interrupted run left under ${jobs}: ${scratch.join(', ')}`);
  await agent.start();
  const stopped = await hypervisor.stopLeftoverExports(jobs).catch((e) => { log(`stopping leftover exports under ${jobs}: ${(e as Error).message}`); return 0; });
  if (stopped) log(`stopped ${stopped} qemu-nbd export(s) an interrupted run left under ${jobs}`);
  log(`serving on ${server.socketPath} (version ${AGENT_VERSION}, pid ${process.pid}, journal ${journalDir}, ${concurrency} job(s) at once)`);
  log(`allowed: ${policy.repositories.length} repositor${policy.repositories.length === 1 ? 'y' : 'ies'} (${policy.repositories.map((r) => r.url).join(', ') || 'none: set allow.repositories in the config'}), restores below ${policy.restoreRoot}`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log(`${sig} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log(`${sig}: stopping (running jobs are aborted and cleaned up first)`);
      void agent.close().then(() => server.close()).finally(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  log('stopped');
  return 0;
}
