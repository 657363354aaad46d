/**
 * @layer adapter
 * Runs a program without a shell: arguments go to execve as they are, so nothing is ever
 * interpreted by /bin/sh. Errors carry the program, its arguments, exit code and stderr.
 */
import { spawn } from 'node:child_process';

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly program: string,
    readonly args: readonly string[],
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string,
    readonly stdout: string,
    options?: { cause?: unknown },
  ) {
    const why = code === null ? `killed by ${signal ?? 'signal'}` : `exit ${code}`;
    const tail = stderr.trim().split('\n').slice(-3).join(' | ');
    super(`[run] ${program} ${args.join(' ')}: ${why}${tail ? `: ${tail}` : ''}`, options);
  }
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  /** milliseconds; the child gets SIGKILL when it runs longer */
  timeoutMs?: number;
  /** resolve instead of throwing for these exit codes */
  okCodes?: readonly number[];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const TRACE = Boolean(process.env.SENDENSE_TRACE_RUN);

export function run(program: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (!TRACE) return runOnce(program, args, opts);
  const t0 = performance.now();
  const done = () => process.stderr.write(`[run +${Math.round(t0)}ms ${Math.round(performance.now() - t0)}ms] ${program} ${args.join(' ').slice(0, 120)}\n`);
  return runOnce(program, args, opts).finally(done);
}

function runOnce(program: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new CommandError(program, args, null, 'SIGKILL', 'aborted before start', '', { cause: opts.signal.reason }));
      return;
    }
    const child = spawn(program, args as string[], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new CommandError(program, args, null, null, String(e.message), '', { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const ok = code === 0 || (code !== null && (opts.okCodes ?? []).includes(code));
      if (ok) resolve({ code: code!, stdout, stderr });
      else reject(new CommandError(program, args, code, signal, stderr, stdout, { cause: opts.signal?.aborted ? opts.signal.reason : undefined }));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
