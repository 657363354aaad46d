/**
 * Helpers for the agent's end-to-end tests: run the real `sendense-agent` CLI, take a backup with
 * it (`backupWithCli`, the one backup helper of these tests), and compare a restored disk with the
 * truth using qemu-img compare.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';
import { run } from '../../agent/system/run.ts';
import { labDir, runId } from '../lab/paths.ts';
import type { RepoHost } from '../lab/sshd.ts';
import type { LabVm } from '../lab/vm.ts';

export const AGENT_BIN = path.resolve(import.meta.dirname, '../../agent/bin/sendense-agent.mjs');

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; json?: any }

/** The agent's work dir for this run (sockets, scratch files). */
export function agentWorkDir(): string {
  return labDir('runs', runId(), 'agent-work');
}

export function cliEnv(): NodeJS.ProcessEnv {
  return { ...process.env, SENDENSE_AGENT_WORKDIR: agentWorkDir() };
}

/** Spawns the CLI; `onSpawn` gets the child (to kill it mid-run). */
export function cli(args: string[], opts: { onSpawn?: (pid: number) => void; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGENT_BIN, ...args], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 170_000);
    child.on('error', reject);
    child.on('spawn', () => opts.onSpawn?.(child.pid!));
    child.on('close', (code, signal) => {
      clearTimeout(t);
      let json;
      try { json = JSON.parse(stdout.trim().split('\n').pop() ?? ''); } catch { /* not json */ }
      resolve({ code, signal, stdout, stderr, json });
    });
  });
}

export function sshArgs(h: RepoHost): string[] {
  return ['--identity', h.identityFile, '--known-hosts', h.knownHostsFile];
}

/** qemu-img compare: true when identical (exit 0), false when they differ (exit 1). */
export async function sameContent(image: string, format: 'qcow2' | 'raw', truth: string): Promise<boolean> {
  const r = await run('qemu-img', ['compare', '-q', '-f', format, '-F', 'raw', image, truth], { okCodes: [1] });
  return r.code === 0;
}

export interface CliBackup {
  vm: Pick<LabVm, 'name' | 'truth'>;
  host: RepoHost;
  /** the repository folder below the host's root (default 'repo') */
  repo?: string;
  /** more options (--mode, --quiesce, …); --json is always given */
  args?: string[];
  /** the point's type the backup must report */
  expect?: 'full' | 'incremental';
  /** disks whose truth (LabVm.truth) is taken right before the backup */
  truths?: string[];
  /** 'empty' (default): the CLI must say nothing on stderr */
  stderr?: 'empty' | 'any';
}

export interface CliBackupResult {
  pointId: string;
  /** the CLI's --json answer */
  json: any;
  /** disk → the truth file taken before the backup */
  truths: Record<string, string>;
  result: CliResult;
}

/** One backup through the real CLI, checked: exit 0, `ok: true`, the expected type, a quiet stderr. */
export async function backupWithCli(o: CliBackup): Promise<CliBackupResult> {
  const truths: Record<string, string> = {};
  for (const d of o.truths ?? []) truths[d] = await o.vm.truth(d);
  const args = ['backup', '--domain', o.vm.name, '--repo', o.host.url(o.repo ?? 'repo'), ...sshArgs(o.host), ...(o.args ?? []), '--json'];
  const r = await cli(args);
  if ((o.stderr ?? 'empty') === 'empty') expect(r.stderr, r.stderr).toBe('');
  expect(r.code, r.stderr).toBe(0);
  expect(r.json, r.stderr).toMatchObject({ ok: true, ...(o.expect ? { type: o.expect } : {}) });
  return { pointId: r.json.point_id, json: r.json, truths, result: r };
}
