/**
 * @layer entry
 * Read throughput of Sendense's NBD client against `nbdcopy URI null:` on the same qemu-nbd
 * export, interleaved round by round (the lab machine is shared and noisy: compare medians):
 *   npx tsx agent/nbd/bench.ts [--size MiB] [--dir DIR] [--rounds N]
 * The export is a qcow2 of random data (made once, kept in DIR). Sendense reads it whole with
 * 256 KiB read()s at 16 and 64 in flight over 1 and 4 connections, with readInto() into one
 * reused buffer, and with one read() of the whole disk (fresh memory: page faults included).
 * Also prints the client's event-loop utilisation: near 1 means Node is the bottleneck.
 *
 * nbdcopy runs from a small shell started before any large buffer exists: spawning a child
 * from this process (fork) would write-protect every page of the reused buffer, and the next
 * pass over it would take a page fault per 4 KiB (measured here: 14 s for 1 GiB).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { run } from '../system/run.ts';
import { openNbdPool, type NbdPoolOptions } from './pool.ts';
import { startQemuNbd } from './qemu-nbd.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    dir: { type: 'string', default: '/var/tmp/sendense-lab/bench-nbd' },
    rounds: { type: 'string', default: '3' },
  },
});
const MiB = 1 << 20;
const size = Number(values.size) * MiB;
const dir = values.dir!;
mkdirSync(dir, { recursive: true });

async function image(): Promise<string> {
  const img = path.join(dir, `random-${values.size}M.qcow2`);
  if (existsSync(img)) return img;
  const raw = `${img}.raw`;
  const fd = openSync(raw, 'w');
  const chunk = Buffer.allocUnsafe(16 * MiB);
  for (let at = 0; at < size; at += chunk.length) writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, size - at), at);
  closeSync(fd);
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, img]);
  rmSync(raw);
  return img;
}

interface Sample { mibs: number; elu: number }

async function measure(fn: () => Promise<void>): Promise<Sample> {
  const e0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  return { mibs: size / MiB / (ms / 1000), elu: performance.eventLoopUtilization(e0).utilization };
}

async function withSource(o: NbdPoolOptions, fn: (s: Awaited<ReturnType<typeof openNbdPool>>) => Promise<void>): Promise<Sample> {
  const src = await openNbdPool(o);
  try {
    return await measure(() => fn(src));
  } finally {
    await src.close();
  }
}

/** Runs `nbdcopy ARGS null:` in a shell made before the big buffers, one line per run. */
function nbdcopyRunner(): { nbdcopy(args: string[]): Promise<void>; close(): void } {
  const sh = spawn('sh', ['-c', 'set -f; while read -r a; do nbdcopy $a null: >/dev/null; echo $?; done'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: sh.stdout })[Symbol.asyncIterator]();
  return {
    nbdcopy: async (args) => {
      sh.stdin.write(`${args.join(' ')}\n`);
      const rc = (await lines.next()).value;
      if (rc !== '0') throw new Error(`[bench] nbdcopy ${args.join(' ')} failed: exit ${rc}`);
    },
    close: () => sh.stdin.end(),
  };
}

const block = 256 << 10;
const img = await image();
const server = await startQemuNbd({ image: img, dir, clients: 16 });
const runner = nbdcopyRunner();
const reused = Buffer.alloc(size);
randomFillSync(reused); // touch every page once, outside the measurements
const cases: [string, () => Promise<Sample>][] = [
  ['nbdcopy URI null: (its defaults: 4 conns x 64 x 256 KiB)', () => measure(() => runner.nbdcopy([server.uri]))],
  ['nbdcopy --connections=1 --requests=16 (256 KiB)', () => measure(() => runner.nbdcopy(['--connections=1', '--requests=16', server.uri]))],
];
for (const conns of [1, 4]) {
  for (const depth of [16, 64]) {
    cases.push([`sendense read() 256 KiB, ${conns} conn x ${depth} in flight`, () => withSource({ uri: server.uri, connections: conns, maxInFlight: depth }, async (src) => {
      let next = 0;
      const worker = async () => {
        while (next < size) {
          const at = next;
          next += block;
          await src.read(at, Math.min(block, size - at));
        }
      };
      await Promise.all(Array.from({ length: conns * depth }, worker));
    })]);
  }
  cases.push([`sendense readInto(reused ${values.size} MiB buffer), ${conns} conn, defaults`, () => withSource({ uri: server.uri, connections: conns }, async (src) => { await src.readInto(0, reused); })]);
}
cases.push([`sendense read(0, ${values.size} MiB) into fresh memory, 4 conns`, () => withSource({ uri: server.uri, connections: 4 }, async (src) => { await src.read(0, size); })]);

try {
  await runner.nbdcopy([server.uri]); // warm the page cache
  const results = new Map<string, Sample[]>();
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const [label, fn] of cases) results.set(label, [...(results.get(label) ?? []), await fn()]);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(`| read ${values.size} MiB from qemu-nbd over a unix socket | median MiB/s | rounds | client event-loop use |\n|---|---|---|---|`);
  for (const [label, s] of results) {
    console.log(`| ${label} | ${Math.round(median(s.map((x) => x.mibs)))} | ${s.map((x) => Math.round(x.mibs)).join(', ')} | ${label.startsWith('nbdcopy') ? '-' : median(s.map((x) => x.elu)).toFixed(2)} |`);
  }
} finally {
  runner.close();
  await server.stop();
}
