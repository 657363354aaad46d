/**
 * Lab VMs: TCG guests without an OS, one or more disks, persistent (define+start) or transient
 * (create, as CloudStack runs them). Guest-like writes go through HMP qemu-io on the device's
 * BlockBackend, so they mark dirty bitmaps exactly as a guest would. `truth()` copies a disk's
 * content while the VM is paused: what a restore of a point taken then must equal.
 */
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { labDir, labName, runId } from './paths.ts';
import { hmp, virsh } from './virsh.ts';

export interface LabDiskSpec {
  /** virtual size in bytes */
  size: number;
  format?: 'qcow2' | 'raw';
  /** bytes of random data written from offset 0 before the VM starts */
  randomPrefix?: number;
  /** patterned writes made before the VM starts */
  init?: { offset: number; length: number; pattern: number }[];
}

export interface LabVmOptions {
  label?: string;
  disks: LabDiskSpec[];
  transient?: boolean;
  memoryMiB?: number;
  /** add a virtio-serial channel for the QEMU guest agent (no agent answers: no guest OS) */
  guestAgentChannel?: boolean;
}

export interface LabDisk {
  dev: string;
  index: number;
  path: string;
  format: 'qcow2' | 'raw';
  size: number;
  /** the qdev id QEMU knows the device by: virtio-disk<N> */
  qdev: string;
}

const DEVS = ['vda', 'vdb', 'vdc', 'vdd', 'vde', 'vdf'];

export class LabVm {
  private running = false;
  constructor(
    readonly name: string,
    readonly uuid: string,
    readonly dir: string,
    readonly disks: LabDisk[],
    readonly transient: boolean,
    readonly xml: string,
  ) {}

  disk(dev: string | number): LabDisk {
    const d = typeof dev === 'number' ? this.disks[dev] : this.disks.find((x) => x.dev === dev);
    if (!d) throw new Error(`[lab] ${this.name} has no disk ${dev}`);
    return d;
  }

  async start(): Promise<void> {
    if (this.transient) {
      const f = path.join(this.dir, 'domain.xml');
      writeFileSync(f, this.xml);
      await virsh(['create', f]);
    } else {
      await virsh(['start', this.name]);
    }
    this.running = true;
  }

  /** Writes `length` bytes of `pattern` at `offset` as the guest would. */
  async write(dev: string | number, offset: number, length: number, pattern: number): Promise<void> {
    const d = this.disk(dev);
    await hmp(this.name, `qemu-io -d ${d.qdev}/virtio-backend "write -P 0x${pattern.toString(16)} ${offset} ${length}"`);
  }

  /** A zero write (write -z): dirty in the bitmap, zero in base:allocation. */
  async zero(dev: string | number, offset: number, length: number): Promise<void> {
    const d = this.disk(dev);
    await hmp(this.name, `qemu-io -d ${d.qdev}/virtio-backend "write -z ${offset} ${length}"`);
  }

  async flush(dev: string | number): Promise<void> {
    await hmp(this.name, `qemu-io -d ${this.disk(dev).qdev}/virtio-backend "flush"`);
  }

  async pause(): Promise<void> { await virsh(['suspend', this.name]); }
  async resume(): Promise<void> { await virsh(['resume', this.name]); }

  async state(): Promise<string> {
    try {
      return (await virsh(['domstate', this.name])).trim();
    } catch {
      return 'absent';
    }
  }

  /** The QEMU process id, read from libvirt's pid file. */
  async qemuPid(): Promise<number> {
    const { readFileSync } = await import('node:fs');
    return Number(readFileSync(`/run/libvirt/qemu/${this.name}.pid`, 'utf8').trim());
  }

  /**
   * Copies the disk's content as a raw file while the VM is paused (paused, flushed, copied,
   * resumed when it was running): the truth a restore of a point taken at this moment must equal.
   * For a stopped VM it copies the image as it is.
   */
  async truth(dev: string | number, dest?: string): Promise<string> {
    const d = this.disk(dev);
    const out = dest ?? path.join(this.dir, `truth-${d.dev}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}.raw`);
    const st = await this.state();
    const wasRunning = st === 'running';
    if (wasRunning) await this.pause();
    try {
      if (st === 'running' || st === 'paused') await this.flush(dev);
      await run('qemu-img', ['convert', '-U', '-f', d.format, '-O', 'raw', d.path, out]);
    } finally {
      if (wasRunning) await this.resume();
    }
    return out;
  }

  async destroy(): Promise<void> {
    await virsh(['destroy', this.name]).catch(() => {});
    this.running = false;
  }

  /** Destroys the domain and forgets it (checkpoint metadata too); disks stay unless removeFiles. */
  async remove(removeFiles = true): Promise<void> {
    await virsh(['domjobabort', this.name]).catch(() => {});
    await this.destroy();
    if (!this.transient) await virsh(['undefine', this.name, '--checkpoints-metadata']).catch(() => {});
    if (removeFiles) rmSync(this.dir, { recursive: true, force: true });
  }

  get isRunning(): boolean { return this.running; }
}

function domainXml(name: string, uuid: string, disks: LabDisk[], memoryMiB: number, guestAgent: boolean): string {
  const diskXml = disks.map((d) => `    <disk type='file' device='disk'>
      <driver name='qemu' type='${d.format}'/>
      <source file='${d.path}'/>
      <target dev='${d.dev}' bus='virtio'/>
    </disk>`).join('\n');
  const ga = guestAgent ? `    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>\n` : '';
  return `<domain type='qemu'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <memory unit='MiB'>${memoryMiB}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${diskXml}
${ga}    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

async function writeRandomRaw(file: string, size: number, randomPrefix: number): Promise<void> {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, size);
    const chunk = Buffer.allocUnsafe(4 << 20);
    for (let off = 0; off < randomPrefix; off += chunk.length) {
      const n = Math.min(chunk.length, randomPrefix - off);
      randomFillSync(chunk, 0, n);
      writeSync(fd, chunk, 0, n, off);
    }
  } finally {
    closeSync(fd);
  }
}

/** Creates the disks and the domain, and starts it (unless start is false). */
export async function createLabVm(opts: LabVmOptions & { start?: boolean }): Promise<LabVm> {
  const name = labName(opts.label ?? 'vm');
  const dir = labDir('runs', runId(), name);
  const uuid = randomUUID();
  const disks: LabDisk[] = [];
  for (const [i, spec] of opts.disks.entries()) {
    const format = spec.format ?? 'qcow2';
    const dev = DEVS[i];
    const file = path.join(dir, `${dev}.${format}`);
    if (spec.randomPrefix) {
      const raw = format === 'raw' ? file : path.join(dir, `${dev}.fill.raw`);
      await writeRandomRaw(raw, spec.size, spec.randomPrefix);
      if (format === 'qcow2') {
        await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, file]);
        rmSync(raw);
      }
    } else {
      await run('qemu-img', ['create', '-q', '-f', format, file, String(spec.size)]);
    }
    for (const w of spec.init ?? []) {
      await run('qemu-io', ['-f', format, '-c', `write -P 0x${w.pattern.toString(16)} ${w.offset} ${w.length}`, file]);
    }
    disks.push({ dev, index: i, path: file, format, size: spec.size, qdev: `virtio-disk${i}` });
  }
  const xml = domainXml(name, uuid, disks, opts.memoryMiB ?? 128, opts.guestAgentChannel ?? false);
  const vm = new LabVm(name, uuid, dir, disks, opts.transient ?? false, xml);
  if (!vm.transient) {
    const f = path.join(dir, 'domain.xml');
    writeFileSync(f, xml);
    await virsh(['define', f]);
  }
  if (opts.start !== false) await vm.start();
  return vm;
}

