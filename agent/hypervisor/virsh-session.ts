/**
 * @layer adapter
 * Long-lived `virsh -q -c <uri>` processes that read commands on stdin (the text protocol is in
 * virsh-framing.ts). A one-shot virsh costs a process start and a libvirt connection, 70–450 ms
 * on a loaded host; a command in a session costs libvirt's round trip, a few milliseconds.
 * Nothing is cached: every command asks libvirt, so a session sees changes made from outside.
 *
 * - A small pool: a command takes an idle session, else waits its turn; one that waits longer
 *   than `spillMs` starts another session (up to `max`), so one slow command (backup-begin) does
 *   not hold up every other domain, while a burst of quick reads does not start processes.
 * - A command that runs past its time limit, or whose AbortSignal fires while it runs, kills its
 *   session (SIGKILL): virsh cannot cancel a command. One still waiting is just dropped.
 * - Idle sessions hold no reference on the event loop (a CLI exits when its work is done; the
 *   session then reads EOF and exits) and end after `idleMs`.
 * - SENDENSE_TRACE_RUN prints each command with its duration, as agent/system/run.ts does.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { frameCommand, parseReply } from './virsh-framing.ts';

export interface SessionReply {
  stdout: string;
  stderr: string;
  /** false when virsh reported an error (a one-shot virsh would exit 1) */
  ok: boolean;
}

export class VirshSessionError extends Error {
  override name = 'VirshSessionError';
  constructor(message: string, readonly killed: boolean, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface VirshSessionsOptions {
  uri: string;
  /** sessions at most; default 3 */
  max?: number;
  /** an idle session ends after this; default 10 s */
  idleMs?: number;
  /** a command that waited this long for a busy session gets a new one (up to max); default 40 ms */
  spillMs?: number;
}

interface Pending {
  args: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
  /** removes the item from the queue when its signal fires while it waits */
  drop?: () => void;
  resolve(r: SessionReply): void;
  reject(e: unknown): void;
}

const TRACE = Boolean(process.env.SENDENSE_TRACE_RUN);
const PREFIX = randomBytes(3).toString('hex');
let tokens = 0;

/** One virsh process; runs one command at a time. */
class Session {
  private readonly proc: ChildProcessWithoutNullStreams;
  private out = '';
  private err = '';
  private current?: { token: string; done(r: SessionReply | Error): void };
  private idleTimer?: NodeJS.Timeout;
  exited = false;
  /** killed or told to end: takes no more commands, even before its process is gone */
  private ending = false;

  constructor(uri: string, private readonly idleMs: number, private readonly onExit: (s: Session) => void) {
    this.proc = spawn('virsh', ['-q', '-c', uri], {
      stdio: ['pipe', 'pipe', 'pipe'],
      // readline needs a terminal type; no history file is written for these sessions
      env: { ...process.env, TERM: 'dumb', VIRSH_HISTSIZE: '0' },
    });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stderr.setEncoding('utf8');
    this.proc.stdout.on('data', (d: string) => { this.out += d; this.check(); });
    this.proc.stderr.on('data', (d: string) => { this.err += d; this.check(); });
    this.proc.stdin.on('error', () => {});
    const gone = (why: string) => {
      if (this.exited) return;
      this.exited = true;
      clearTimeout(this.idleTimer);
      this.current?.done(new VirshSessionError(`[hypervisor] [virsh] session ended (${why}): ${this.err.trim().split('\n').pop() ?? ''}`, true));
      this.current = undefined;
      this.onExit(this);
    };
    this.proc.on('error', (e) => gone(e.message));
    this.proc.on('close', (code, sig) => gone(sig ? `killed by ${sig}` : `exit ${code}`));
    this.idle();
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  /** neither killed nor ending */
  get alive(): boolean {
    return !this.ending && !this.exited;
  }

  /** can take a command now */
  get free(): boolean {
    return this.alive && !this.busy;
  }

  exec(args: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<SessionReply> {
    return new Promise<SessionReply>((resolve, reject) => {
      const token = `sdx${PREFIX}${(tokens++).toString(36)}`;
      clearTimeout(this.idleTimer);
      this.ref(true);
      const timer = setTimeout(() => this.kill(new VirshSessionError(`[hypervisor] [virsh] killed after ${timeoutMs} ms`, true)), timeoutMs);
      const onAbort = () => this.kill(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.current = {
        token,
        done: (r) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.current = undefined;
          if (r instanceof Error) reject(r);
          else resolve(r);
        },
      };
      this.proc.stdin.write(frameCommand(args, token));
    });
  }

  /** Ends the process; a command in progress rejects with `why`. */
  kill(why?: unknown): void {
    this.ending = true;
    if (this.current && why !== undefined) {
      const c = this.current;
      this.current = undefined;
      c.done(why instanceof Error ? why : new Error(String(why)));
    }
    if (!this.exited) this.proc.kill('SIGKILL');
  }

  /** Between commands: no hold on the event loop, and an end after idleMs. */
  idle(): void {
    this.ref(false);
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.free) { this.ending = true; this.proc.stdin.end(); }
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private ref(on: boolean): void {
    for (const h of [this.proc, this.proc.stdin, this.proc.stdout, this.proc.stderr] as { ref(): void; unref(): void }[]) {
      if (on) h.ref(); else h.unref();
    }
  }

  private check(): void {
    if (!this.current) return;
    const r = parseReply(this.out, this.err, this.current.token);
    if (!r) return;
    this.out = this.out.slice(r.stdoutUsed);
    this.err = this.err.slice(r.stderrUsed);
    this.current.done({ stdout: r.stdout, stderr: r.stderr, ok: r.ok });
  }
}

/** A pool of virsh sessions on one connection URI. */
export class VirshSessions {
  private readonly max: number;
  private readonly idleMs: number;
  private readonly sessions = new Set<Session>();
  private readonly queue: Pending[] = [];
  private readonly spillMs: number;
  private spill?: NodeJS.Timeout;

  constructor(private readonly opts: VirshSessionsOptions) {
    this.max = opts.max ?? 3;
    this.idleMs = opts.idleMs ?? 10_000;
    this.spillMs = opts.spillMs ?? 40;
  }

  /** Runs one virsh command (words as they would be given to execve). */
  exec(args: readonly string[], o: { timeoutMs: number; signal?: AbortSignal }): Promise<SessionReply> {
    if (o.signal?.aborted) return Promise.reject(o.signal.reason);
    const t0 = performance.now();
    const p = new Promise<SessionReply>((resolve, reject) => {
      const item: Pending = { args, timeoutMs: o.timeoutMs, signal: o.signal, resolve, reject };
      if (o.signal) {
        item.drop = () => {
          const i = this.queue.indexOf(item);
          if (i >= 0) { this.queue.splice(i, 1); reject(o.signal!.reason); }
        };
        o.signal.addEventListener('abort', item.drop, { once: true });
      }
      this.queue.push(item);
      this.pump();
    });
    if (!TRACE) return p;
    const done = () => process.stderr.write(`[run +${Math.round(t0)}ms ${Math.round(performance.now() - t0)}ms] virsh (session) ${args.join(' ').slice(0, 120)}\n`);
    return p.finally(done);
  }

  private alive(): number {
    let n = 0;
    for (const s of this.sessions) if (s.alive) n++;
    return n;
  }

  private start(): Session {
    const s = new Session(this.opts.uri, this.idleMs, (gone) => { this.sessions.delete(gone); this.pump(); });
    this.sessions.add(s);
    if (TRACE) process.stderr.write(`[run +${Math.round(performance.now())}ms 0ms] virsh -q -c ${this.opts.uri} (session start)\n`);
    return s;
  }

  /** virsh processes running now */
  get size(): number {
    return this.sessions.size;
  }

  /** Starts a session now when none runs, so its process start and libvirt connection overlap
   * with other work (the agent opening its repository). */
  warmUp(): void {
    if (this.sessions.size === 0) this.start().idle();
  }

  /** Ends every session (commands in progress reject). */
  close(): void {
    clearTimeout(this.spill);
    this.spill = undefined;
    for (const s of this.sessions) s.kill(new VirshSessionError('[hypervisor] [virsh] sessions closed', true));
    for (const q of this.queue.splice(0)) q.reject(new VirshSessionError('[hypervisor] [virsh] sessions closed', false));
  }

  private pump(): void {
    while (this.queue.length) {
      let s = [...this.sessions].find((x) => x.free);
      if (!s) {
        const alive = this.alive();
        if (alive >= this.max) return;
        if (alive > 0) {
          // most commands take milliseconds: start another process only for one that waits
          this.spill ??= setTimeout(() => {
            this.spill = undefined;
            if (this.queue.length && this.alive() < this.max) this.start();
            this.pump();
          }, this.spillMs);
          return;
        }
        s = this.start();
      }
      const item = this.queue.shift()!;
      if (item.drop) item.signal?.removeEventListener('abort', item.drop);
      const session = s;
      session.exec(item.args, item.timeoutMs, item.signal).then(item.resolve, item.reject).finally(() => {
        if (session.alive) session.idle();
        this.pump();
      });
    }
  }
}
