/**
 * nbdkit for NBD client tests: a real second NBD server with filters that inject what qemu-nbd
 * never does (errors on demand, a 4 KiB minimum block size, no structured replies). Runs in the
 * foreground as a child, on a unix socket in `dir`, with a pid file there so a crashed run's
 * server is killed by the lab clean-up. Ready when nbdkit writes the pid file.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isAlive, waitFor } from './proc.ts';

export interface Nbdkit {
  socket: string;
  uri: string;
  pid: number;
  stop(): Promise<void>;
}

/** nbdkit [options...] PLUGIN [params...]: `args` is everything after the socket options. */
export async function startNbdkit(dir: string, args: string[]): Promise<Nbdkit> {
  const id = randomBytes(4).toString('hex');
  const socket = path.join(dir, `nbdkit-${id}.sock`);
  const pidFile = path.join(dir, `nbdkit-${id}.pid`);
  const child = spawn('nbdkit', ['-f', '-U', socket, '-P', pidFile, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor(`nbdkit ${args.join(' ')} to listen`, () => {
    if (child.exitCode !== null) throw new Error(`[lab] nbdkit ${args.join(' ')} exited ${child.exitCode}: ${stderr.trim()}`);
    return existsSync(pidFile);
  }, 10_000, 20);
  return {
    socket,
    uri: `nbd+unix:///?socket=${socket}`,
    pid: child.pid!,
    /** SIGTERM (nbdkit then waits for its clients), SIGKILL after 3 s */
    stop: async () => {
      if (child.exitCode === null && isAlive(child.pid!)) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
