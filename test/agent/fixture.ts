/**
 * Helpers for the agent's end-to-end tests: run the real `sendense-agent` CLI, and compare a
 * restored disk with the truth using qemu-img compare.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { labDir, runId } from '../lab/paths.ts';
import type { RepoHost } from '../lab/sshd.ts';

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
