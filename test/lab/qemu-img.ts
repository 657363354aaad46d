/**
 * qemu-img and qemu-io for tests, without a shell: check (JSON verdict), compare, info (JSON,
 * optionally the backing chain), map, convert to raw, create, and qemu-io command lists.
 */
import { run } from '../../agent/system/run.ts';

export interface QemuCheck {
  /** 0 clean, 1 check failed to run, 2 corruptions, 3 leaks */
  code: number;
  corruptions: number;
  leaks: number;
  raw: string;
}

export async function qemuImgCheck(file: string, format = 'qcow2'): Promise<QemuCheck> {
  const r = await run('qemu-img', ['check', '-f', format, '--output=json', file], { okCodes: [1, 2, 3] });
  let j: { corruptions?: number; leaks?: number } = {};
  try {
    j = JSON.parse(r.stdout) as typeof j;
  } catch {
    /* rc 1: no JSON */
  }
  return { code: r.code, corruptions: j.corruptions ?? 0, leaks: j.leaks ?? 0, raw: r.stdout + r.stderr };
}

/** 0 identical, 1 different (throws on errors) */
export async function qemuImgCompare(a: string, b: string, formats: [string, string] = ['qcow2', 'raw']): Promise<{ code: number; out: string }> {
  const r = await run('qemu-img', ['compare', '-f', formats[0], '-F', formats[1], a, b], { okCodes: [1] });
  return { code: r.code, out: r.stdout + r.stderr };
}

export async function qemuImgInfo(file: string, opts: { chain?: boolean } = {}): Promise<unknown> {
  const r = await run('qemu-img', ['info', '--output=json', ...(opts.chain ? ['--backing-chain'] : []), file]);
  return JSON.parse(r.stdout) as unknown;
}

export interface QemuMapEntry {
  start: number;
  length: number;
  depth: number;
  /** false: no layer of the chain allocates the range */
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
}

export async function qemuImgMap(file: string): Promise<QemuMapEntry[]> {
  const r = await run('qemu-img', ['map', '--output=json', '-f', 'qcow2', file]);
  return JSON.parse(r.stdout) as QemuMapEntry[];
}

export async function qemuImgConvertRaw(src: string, dst: string): Promise<void> {
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', src, dst]);
}

export async function qemuImgCreate(file: string, size: number | string, opts: { backing?: string; options?: string[]; extra?: string[] } = {}): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2', ...(opts.extra ?? [])];
  if (opts.backing) args.push('-b', opts.backing, '-F', 'qcow2');
  if (opts.options?.length) args.push('-o', opts.options.join(','));
  await run('qemu-img', [...args, file, String(size)]);
}

/** runs qemu-io commands ('write -P 0xab 0 1M', 'write -z 1M 64k', …) on an image */
export async function qemuIo(file: string, commands: string[], format = 'qcow2'): Promise<string> {
  const r = await run('qemu-io', ['-f', format, ...commands.flatMap((c) => ['-c', c]), file]);
  if (/error|failed|Invalid|Pattern verification/i.test(r.stdout)) throw new Error(`[lab] qemu-io ${commands.join('; ')}: ${r.stdout.trim()}`);
  return r.stdout;
}
