/**
 * @layer entry
 * Read throughput of Sendense's NBD client against `nbdcopy URI null:` on the same export, in
 * the same run: `npx tsx agent/nbd/bench.ts [--size MiB] [--dir DIR] [--rounds N]`.
 * Exports a qcow2 of random data (made once, kept in DIR) with qemu-nbd and reads it whole:
 * with 256 KiB reads at several depths over 1 and 4 connections, and as one big read().
 */
import { existsSync, mkdirSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../system/run.ts';
import { openNbdPool } from './pool.ts';
import { startQemuNbd } from './qemu-nbd.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    dir: { type: 'string', default: '/var/tmp/sendense-lab/bench-nbd' },
    rounds: { type: 'string', default: '2' },
  },
});
const MiB = 1 << 20;
const size = Number(values.size) * MiB;
const rounds = Number(values.rounds);
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

function mibs(bytes: number, ms: number): number {
  return Math.round((bytes / MiB) / (ms / 1000));
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function windowed(uri: string, connections: number, depth: number, block: number): Promise<number> {
  const src = await openNbdPool({ uri, connections, maxInFlight: depth });
  try {
    return await timed(async () => {
      let next = 0;
      let sum = 0;
      const worker = async () => {
        while (next < size) {
          const at = next;
          next += block;
          const b = await src.read(at, Math.min(block, size - at));
          sum += b[0];
        }
      };
      await Promise.all(Array.from({ length: connections * depth }, worker));
      if (sum < 0) throw new Error('unreachable');
    });
  } finally {
    await src.close();
  }
}

async function whole(uri: string, connections: number): Promise<number> {
  const src = await openNbdPool({ uri, connections, maxInFlight: 16 });
  try {
    return await timed(async () => { await src.read(0, size); });
  } finally {
    await src.close();
  }
}

const img = await image();
const server = await startQemuNbd({ image: img, dir, clients: 16 });
try {
  const rows: [string, number[]][] = [];
  const add = (label: string, ms: number) => {
    const row = rows.find((r) => r[0] === label) ?? (rows.push([label, []]), rows[rows.length - 1]);
    row[1].push(mibs(size, ms));
  };
  await run('nbdcopy', [server.uri, 'null:']); // warm the page cache
  for (let r = 0; r < rounds; r++) {
    add('nbdcopy URI null: (defaults: 4 conns, 64 reqs)', await timed(async () => { await run('nbdcopy', [server.uri, 'null:']); }));
    for (const conns of [1, 4]) {
      for (const depth of [16, 64]) add(`sendense 256 KiB reads, ${conns} conn x ${depth} in flight`, await windowed(server.uri, conns, depth, 256 << 10));
      add(`sendense one read(0, ${values.size} MiB), ${conns} conn x 16 x 2 MiB`, await whole(server.uri, conns));
    }
  }
  console.log(`| read ${values.size} MiB from qemu-nbd (unix socket) | MiB/s per round |\n|---|---|`);
  for (const [label, v] of rows) console.log(`| ${label} | ${v.join(', ')} |`);
} finally {
  await server.stop();
}
