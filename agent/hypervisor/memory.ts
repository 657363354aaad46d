/**
 * @layer port
 * MemoryHypervisor: the Hypervisor port in memory, for engine tests and development. It models
 * what matters about libvirt + QEMU and enforces the same rules as the real adapter:
 * - images with persistent bitmaps as QEMU keeps them: a bitmap created while a VM runs reaches
 *   the image only at a clean stop (`destroy`); an image QEMU opens gets 'in-use' flags, and a
 *   QEMU that dies (`crash`, i.e. SIGKILL) leaves them there, so the next open finds the bitmap
 *   inconsistent (and one created during that run is simply gone);
 * - recording bitmaps mark every 64 KiB chunk a guest write (`write`, `zero`) touches;
 * - transient domains forget their checkpoints when destroyed and re-created; persistent ones keep them;
 * - one pull-mode backup job per domain, exports frozen at beginBackup (copy-on-write), readable
 *   with `exportSource(socketPath, exportName)` until abortJob; a virtual file set stands in for
 *   sockets and scratch files so tests can check that they are removed;
 * - a running VM holds its images (offline operations reject with 'busy'), qemu-nbd exports hold
 *   them read-only (a VM cannot start on them);
 * - the sendense- prefix rule, typed errors, and a guest agent that is absent, silent or working.
 */
import { randomUUID } from 'node:crypto';
import { BlockSourceError, type BlockSource } from '../blocksource/port.ts';
import { busyMessage } from './job-owner.ts';
import { CHUNK, DiskSnapshotSource, SparseDisk, type SnapshotExport } from './memory-disk.ts';
import {
  assertSendenseName, HypervisorError,
  type BackupExport, type BackupJobSpec, type BitmapInfo, type CheckpointRecord, type DomainDisk,
  type DomainInfo, type DomainRef, type FreezeResult, type Hypervisor, type StoppedExport,
  type StoppedExportOptions, type ThawResult,
} from './port.ts';

export type GuestAgentMode = 'none' | 'silent' | 'ok' | 'failing';

interface MemBitmap {
  name: string;
  recording: boolean;
  /** written to the image header (false: created while running, not flushed yet) */
  stored: boolean;
  /** the image's in-use flag */
  inUse: boolean;
  inconsistent: boolean;
  dirty: Set<number>;
}

interface MemImage {
  path: string;
  format: 'qcow2' | 'raw';
  disk: SparseDisk;
  bitmaps: Map<string, MemBitmap>;
  /** uuid of the running domain that has it open */
  holder?: string;
  /** qemu-nbd exports reading it */
  readers: Set<string>;
}

export interface MemoryDiskSpec {
  /** target dev; default vda, vdb, … */
  target?: string;
  /** virtual size (for a new image) */
  size?: number;
  format?: 'qcow2' | 'raw';
  kind?: DomainDisk['kind'];
  device?: string;
  /** an existing image path (re-created transient domain) or the path for a new one */
  image?: string;
}

export interface MemoryDomainSpec {
  name: string;
  uuid?: string;
  transient?: boolean;
  disks: MemoryDiskSpec[];
  /** default true (a transient domain always starts) */
  start?: boolean;
  guestAgent?: GuestAgentMode;
}

interface MemJob {
  socketPath: string;
  files: string[];
  exports: Map<string, SnapshotExport>;
}

interface MemDomain {
  name: string;
  uuid: string;
  persistent: boolean;
  state: 'running' | 'paused' | 'shutoff';
  id?: number;
  disks: DomainDisk[];
  checkpoints: CheckpointRecord[];
  job?: MemJob;
  /** a domain job that is not Sendense's (a migration, a dump): abortJob refuses to end it */
  foreignJob?: string;
  agent: GuestAgentMode;
  frozen: boolean;
}

const DEVS = 'abcdefghijklmnopqrstuvwxyz';
const err = (code: ConstructorParameters<typeof HypervisorError>[0], msg: string) => new HypervisorError(code, `[hypervisor] [memory] ${msg}`);

export class MemoryHypervisor implements Hypervisor {
  readonly kind = 'memory';
  private readonly domains = new Map<string, MemDomain>();
  private readonly images = new Map<string, MemImage>();
  /** sockets, scratch files: what would be on disk */
  private readonly files = new Set<string>();
  private readonly stopped = new Map<string, { image: string; exp: SnapshotExport }>();
  private nextId = 1;

  // ---- test-facing controls (not part of the port) ----

  /** Defines (persistent) or creates (transient) a domain; new images are created empty. */
  createDomain(spec: MemoryDomainSpec): DomainInfo {
    if ([...this.domains.values()].some((d) => d.name === spec.name || d.uuid === spec.uuid)) throw err('invalid', `domain '${spec.name}' already exists`);
    const uuid = spec.uuid ?? randomUUID();
    const disks = spec.disks.map((d, i): DomainDisk => {
      const target = d.target ?? `vd${DEVS[i]}`;
      const format = d.format ?? 'qcow2';
      const path = d.image ?? `/memory/${spec.name}/${target}.${format}`;
      if (!this.images.has(path)) {
        if (!d.size) throw err('invalid', `disk ${target}: a new image needs a size`);
        this.images.set(path, { path, format, disk: new SparseDisk(d.size), bitmaps: new Map(), readers: new Set() });
      }
      const img = this.images.get(path)!;
      return { target, kind: d.kind ?? 'file', source: path, format: img.format, device: d.device ?? 'disk', readonly: false };
    });
    const dom: MemDomain = { name: spec.name, uuid, persistent: !spec.transient, state: 'shutoff', disks, checkpoints: [], agent: spec.guestAgent ?? 'none', frozen: false };
    this.domains.set(uuid, dom);
    if (spec.transient || spec.start !== false) {
      try { this.open(dom); } catch (e) { this.domains.delete(uuid); throw e; }
    }
    return this.info(dom);
  }

  /** Starts a stopped persistent domain (QEMU opens its images). */
  start(ref: DomainRef): void {
    const dom = this.find(ref);
    if (dom.state !== 'shutoff') throw err('invalid', `domain '${dom.name}' is already running`);
    this.open(dom);
  }

  /** `virsh destroy`: QEMU stops cleanly enough to flush persistent bitmaps; a transient domain is gone. */
  destroy(ref: DomainRef): void {
    this.close(this.find(ref), false);
  }

  /** QEMU killed with SIGKILL: bitmaps stay 'in-use' in the images, unflushed ones are lost. */
  crash(ref: DomainRef): void {
    this.close(this.find(ref), true);
  }

  /** A transient domain destroyed and created again from the same XML (what CloudStack does on stop/start). */
  recreate(ref: DomainRef): DomainInfo {
    const dom = this.find(ref);
    const spec: MemoryDomainSpec = {
      name: dom.name, uuid: dom.uuid, transient: !dom.persistent, guestAgent: dom.agent,
      disks: dom.disks.map((d) => ({ target: d.target, image: d.source, kind: d.kind, device: d.device })),
    };
    if (dom.state !== 'shutoff') this.destroy(ref);
    if (!dom.persistent) return this.createDomain(spec);
    this.start(dom.uuid);
    return this.info(dom);
  }

  pause(ref: DomainRef): void {
    const dom = this.find(ref);
    if (dom.state !== 'running') throw err('not-running', `domain '${dom.name}' is not running`);
    dom.state = 'paused';
  }

  setGuestAgent(ref: DomainRef, mode: GuestAgentMode): void {
    this.find(ref).agent = mode;
  }

  isFrozen(ref: DomainRef): boolean {
    return this.find(ref).frozen;
  }

  /** A guest write of `data` (or `pattern` repeated `length` times) at `offset`. */
  write(ref: DomainRef, disk: string, offset: number, data: Buffer): void;
  write(ref: DomainRef, disk: string, offset: number, length: number, pattern: number): void;
  write(ref: DomainRef, disk: string, offset: number, dataOrLength: Buffer | number, pattern = 0): void {
    const data = Buffer.isBuffer(dataOrLength) ? dataOrLength : Buffer.alloc(dataOrLength, pattern);
    this.guestWrite(ref, disk, offset, data);
  }

  /** A guest zero write (write -z): dirty in the bitmaps, zero in base:allocation where whole chunks. */
  zero(ref: DomainRef, disk: string, offset: number, length: number): void {
    this.guestWrite(ref, disk, offset, { zero: length });
  }

  /** The current content of an image (the truth a restore must equal). */
  content(image: string, offset = 0, length?: number): Buffer {
    const img = this.image(image);
    return img.disk.read(offset, length ?? img.disk.size - offset);
  }

  /** Reads an export as an NBD client would: a BlockSource on the job's (or qemu-nbd's) socket. */
  exportSource(socketPath: string, exportName: string): BlockSource {
    const exp = this.stopped.get(socketPath)?.exp
      ?? [...this.domains.values()].find((d) => d.job?.socketPath === socketPath)?.job?.exports.get(exportName);
    if (!exp || (this.stopped.has(socketPath) && exportName !== '')) {
      throw new BlockSourceError('connect', `[hypervisor] [memory] no export '${exportName}' at ${socketPath}`);
    }
    return new DiskSnapshotSource(exp);
  }

  /** A bitmap created behind Sendense's back (CloudStack's own, any name) in an image no VM runs. */
  injectBitmap(image: string, name: string): void {
    const img = this.offlineWritable(image);
    if (img.bitmaps.has(name)) throw err('bitmap-exists', `bitmap '${name}' already exists in ${image}`);
    img.bitmaps.set(name, { name, recording: true, stored: true, inUse: false, inconsistent: false, dirty: new Set() });
  }

  /** Files (sockets, scratch files) directly in `dir`. */
  listFiles(dir: string): string[] {
    const prefix = `${dir.replace(/\/+$/, '')}/`;
    return [...this.files].filter((f) => f.startsWith(prefix) && !f.slice(prefix.length).includes('/')).map((f) => f.slice(prefix.length));
  }

  /** Whether a socket or scratch file "exists". */
  pathExists(p: string): boolean {
    return this.files.has(p);
  }

  // ---- the port ----

  async listDomains(): Promise<DomainInfo[]> {
    return [...this.domains.values()].map((d) => this.info(d));
  }

  async getDomain(ref: DomainRef): Promise<DomainInfo> {
    return this.info(this.find(ref));
  }

  async disks(ref: DomainRef): Promise<DomainDisk[]> {
    const dom = this.find(ref);
    return dom.disks.map((d) => ({ ...d, ...(dom.state !== 'shutoff' ? { alias: `virtio-disk${dom.disks.indexOf(d)}` } : {}) }));
  }

  async bitmaps(ref: DomainRef, disk: string): Promise<BitmapInfo[]> {
    const dom = this.find(ref);
    const img = this.image(this.disk(dom, disk).source);
    if (dom.state === 'shutoff') return this.offlineBitmaps(img);
    return [...img.bitmaps.values()].map((b) => ({
      name: b.name, granularity: CHUNK, recording: b.recording, busy: false, inconsistent: b.inconsistent, persistent: true,
    }));
  }

  async imageBitmaps(image: string): Promise<BitmapInfo[]> {
    const img = this.image(image);
    if (img.holder) throw err('busy', `image ${image} is open in a running VM: ask bitmaps(domain, disk) instead`);
    return this.offlineBitmaps(img);
  }

  async listCheckpoints(ref: DomainRef): Promise<CheckpointRecord[]> {
    return this.find(ref).checkpoints.map((c) => structuredClone(c));
  }

  async redefineCheckpoint(ref: DomainRef, rec: CheckpointRecord): Promise<void> {
    assertSendenseName(rec.name, 'checkpoint');
    const dom = this.find(ref);
    for (const d of rec.disks) this.disk(dom, d.target);
    const known = dom.checkpoints.filter((c) => c.name !== rec.name);
    const parent = rec.parent && known.some((c) => c.name === rec.parent) ? rec.parent : undefined;
    const copy: CheckpointRecord = { name: rec.name, creationTime: rec.creationTime, disks: rec.disks.map((d) => ({ ...d })), ...(parent ? { parent } : {}) };
    const at = dom.checkpoints.findIndex((c) => c.name === rec.name);
    if (at >= 0) dom.checkpoints[at] = copy;
    else dom.checkpoints.push(copy);
  }

  async deleteCheckpointMetadata(ref: DomainRef, name: string): Promise<void> {
    assertSendenseName(name, 'checkpoint');
    const dom = this.find(ref);
    const cp = dom.checkpoints.find((c) => c.name === name);
    if (!cp) return;
    for (const c of dom.checkpoints) if (c.parent === name) { if (cp.parent) c.parent = cp.parent; else delete c.parent; }
    dom.checkpoints = dom.checkpoints.filter((c) => c !== cp);
  }

  async removeBitmap(ref: DomainRef, disk: string, name: string): Promise<void> {
    assertSendenseName(name, 'bitmap');
    const dom = this.find(ref);
    const img = this.image(this.disk(dom, disk).source);
    const cp = dom.checkpoints.find((c) => c.disks.some((d) => d.target === disk && d.bitmap === name));
    if (cp) throw err('checkpoint-exists', `bitmap '${name}' on ${disk} belongs to checkpoint '${cp.name}': deleteCheckpointMetadata first`);
    if (dom.state === 'shutoff' && (img.holder || img.readers.size)) throw err('busy', `image ${img.path} is in use`);
    img.bitmaps.delete(name);
  }

  async beginBackup(ref: DomainRef, spec: BackupJobSpec, signal?: AbortSignal): Promise<BackupExport> {
    if (spec.checkpoint) assertSendenseName(spec.checkpoint.name, 'checkpoint');
    const dom = this.find(ref);
    if (dom.state === 'shutoff') throw err('not-running', `domain '${dom.name}' is not running: back up its images with exportStopped`);
    if (dom.foreignJob) throw err('job-active', busyMessage(dom.name, dom.foreignJob));
    if (dom.job) throw err('job-active', `domain '${dom.name}' already has a backup job: abortJob first`);
    if (!spec.disks.length) throw err('invalid', 'a backup job needs at least one disk');
    const targets = spec.disks.map((d) => d.target);
    if (new Set(targets).size !== targets.length) throw err('invalid', `disk listed twice in ${targets.join(',')}`);
    const imgs = new Map(spec.disks.map((d) => [d.target, this.image(this.disk(dom, d.target).source)]));
    if (spec.checkpoint) {
      const name = spec.checkpoint.name;
      if (dom.checkpoints.some((c) => c.name === name)) throw err('checkpoint-exists', `checkpoint '${name}' exists on '${dom.name}': pick a new name`);
      for (const t of spec.checkpoint.disks) {
        const d = this.disk(dom, t);
        if (d.format !== 'qcow2') throw err('unsupported', `disk ${t} is ${d.format || d.kind}: only qcow2 can hold a bitmap (back it up in full)`);
        if (this.image(d.source).bitmaps.has(name)) throw err('bitmap-exists', `bitmap '${name}' already exists in ${d.source}: remove it or pick a new name`);
      }
    }
    const dirty = new Map<string, Set<number>>();
    for (const d of spec.disks) {
      if (!d.incrementalFrom) continue;
      const cp = dom.checkpoints.find((c) => c.name === d.incrementalFrom);
      if (!cp) throw err('checkpoint-missing', `checkpoint '${d.incrementalFrom}' is unknown on '${dom.name}': redefine it from Sendense's record first`);
      const bm = cp.disks.find((x) => x.target === d.target)?.bitmap;
      const b = bm ? imgs.get(d.target)!.bitmaps.get(bm) : undefined;
      if (!b) throw err('bitmap-missing', `checkpoint '${cp.name}' has no bitmap in ${d.target}'s image: a full backup is needed`);
      if (b.inconsistent) throw err('bitmap-inconsistent', `bitmap '${b.name}' on ${d.target} is inconsistent (QEMU stopped without saving it): a full backup is needed`);
      dirty.set(d.target, new Set(b.dirty));
    }
    if (this.files.has(spec.socketPath)) throw err('invalid', `${spec.socketPath} exists: use a socket path unique to this job`);
    if (signal?.aborted) throw signal.reason;

    const jobId = randomUUID().slice(0, 8);
    const job: MemJob = { socketPath: spec.socketPath, files: [spec.socketPath], exports: new Map() };
    const live = () => dom.job === job;
    for (const d of spec.disks) {
      const img = imgs.get(d.target)!;
      const ctx = `qemu:dirty-bitmap:backup-${d.target}`;
      const set = dirty.get(d.target);
      job.exports.set(d.target, { name: d.target, size: img.disk.size, chunks: img.disk.snapshot(), ...(set ? { dirty: { context: ctx, chunks: set } } : {}), live });
      job.files.push(`${spec.scratchDir.replace(/\/+$/, '')}/${dom.uuid}-${jobId}-${d.target}.qcow2`);
    }
    if (spec.checkpoint) {
      const { name } = spec.checkpoint;
      for (const t of spec.checkpoint.disks) {
        this.image(this.disk(dom, t).source).bitmaps.set(name, { name, recording: true, stored: false, inUse: false, inconsistent: false, dirty: new Set() });
      }
      const parent = dom.checkpoints[dom.checkpoints.length - 1]?.name;
      dom.checkpoints.push({ name, creationTime: Math.floor(Date.now() / 1000), disks: spec.checkpoint.disks.map((t) => ({ target: t, bitmap: name })), ...(parent ? { parent } : {}) });
    }
    dom.job = job;
    for (const f of job.files) this.files.add(f);
    return {
      socketPath: spec.socketPath,
      exports: spec.disks.map((d) => ({
        disk: d.target, socketPath: spec.socketPath, exportName: d.target, uri: `nbd+unix:///${d.target}?socket=${spec.socketPath}`,
        ...(d.incrementalFrom ? { bitmapContext: `qemu:dirty-bitmap:backup-${d.target}` } : {}),
      })),
      ...(spec.checkpoint ? { checkpoint: spec.checkpoint.name } : {}),
    };
  }

  async jobActive(ref: DomainRef): Promise<boolean> {
    const dom = this.findOptional(ref);
    return dom?.job !== undefined || dom?.foreignJob !== undefined;
  }

  async abortJob(ref: DomainRef): Promise<void> {
    const dom = this.findOptional(ref);
    if (dom?.foreignJob) throw err('job-active', busyMessage(dom.name, dom.foreignJob));
    if (dom) this.endJob(dom);
  }

  /** Test hook: another party's domain job (e.g. 'Outgoing migration') starts, or ends with undefined. */
  setForeignJob(ref: DomainRef, operation: string | undefined): void {
    this.find(ref).foreignJob = operation;
  }

  async guestAgentAvailable(ref: DomainRef, timeoutMs: number): Promise<boolean> {
    const dom = this.find(ref);
    if (dom.state === 'shutoff') return false;
    if (dom.agent === 'silent') { await sleep(timeoutMs); return false; }
    return dom.agent === 'ok' || dom.agent === 'failing';
  }

  async guestAgentFreeze(ref: DomainRef, timeoutMs: number, signal?: AbortSignal): Promise<FreezeResult> {
    signal?.throwIfAborted();
    const dom = this.find(ref);
    if (dom.state === 'shutoff') return { ok: false, reason: 'unavailable', message: `domain '${dom.name}' is not running` };
    switch (dom.agent) {
      case 'none': return { ok: false, reason: 'unavailable', message: 'QEMU guest agent is not configured (no channel)' };
      case 'silent': await sleep(timeoutMs, signal); return { ok: false, reason: 'unavailable', message: `guest agent did not answer within ${timeoutMs} ms` };
      case 'failing': return { ok: false, reason: 'failed', message: 'guest-fsfreeze-freeze failed in the guest' };
      case 'ok': dom.frozen = true; return { ok: true, frozen: 1 };
    }
  }

  async guestAgentThaw(ref: DomainRef, timeoutMs: number, signal?: AbortSignal): Promise<ThawResult> {
    signal?.throwIfAborted();
    const dom = this.findOptional(ref);
    if (!dom || dom.state === 'shutoff') return { ok: false, reason: 'unavailable', message: 'domain is not running' };
    if (dom.agent === 'silent') { await sleep(timeoutMs, signal); return { ok: false, reason: 'unavailable', message: `guest agent did not answer within ${timeoutMs} ms` }; }
    if (dom.agent !== 'ok') return { ok: false, reason: 'unavailable', message: 'no guest agent' };
    const thawed = dom.frozen ? 1 : 0;
    dom.frozen = false;
    return { ok: true, thawed };
  }

  async isPaused(ref: DomainRef): Promise<boolean> {
    return this.find(ref).state === 'paused';
  }

  async resume(ref: DomainRef): Promise<void> {
    const dom = this.find(ref);
    if (dom.state === 'paused') dom.state = 'running';
  }

  async addBitmapOffline(image: string, name: string): Promise<void> {
    assertSendenseName(name, 'bitmap');
    if (this.offlineWritable(image).format !== 'qcow2') throw err('unsupported', `${image} is raw: only qcow2 holds bitmaps`);
    this.injectBitmap(image, name);
  }

  async removeBitmapOffline(image: string, name: string): Promise<void> {
    assertSendenseName(name, 'bitmap');
    this.offlineWritable(image).bitmaps.delete(name);
  }

  async exportStopped(image: string, opts: StoppedExportOptions, signal?: AbortSignal): Promise<StoppedExport> {
    const img = this.image(image);
    if (img.holder) throw err('busy', `image ${image} is open in a running VM: back it up with beginBackup`);
    let dirty: SnapshotExport['dirty'];
    if (opts.bitmap) {
      const b = img.bitmaps.get(opts.bitmap);
      if (!b) throw err('bitmap-missing', `no bitmap '${opts.bitmap}' in ${image}: a full backup is needed`);
      if (b.inUse || b.inconsistent) throw err('bitmap-inconsistent', `bitmap '${opts.bitmap}' in ${image} is inconsistent: a full backup is needed`);
      dirty = { context: `qemu:dirty-bitmap:${opts.bitmap}`, chunks: new Set(b.dirty) };
    }
    if (this.files.has(opts.socketPath)) throw err('invalid', `${opts.socketPath} exists: use a socket path unique to this export`);
    if (signal?.aborted) throw signal.reason;
    const sock = opts.socketPath;
    let up = true;
    const exp: SnapshotExport = { name: '', size: img.disk.size, chunks: img.disk.snapshot(), ...(dirty ? { dirty } : {}), live: () => up && this.stopped.get(sock)?.exp === exp };
    this.stopped.set(sock, { image, exp });
    this.files.add(sock);
    img.readers.add(sock);
    return {
      socketPath: sock, exportName: '', uri: `nbd+unix:///?socket=${sock}`,
      ...(dirty ? { bitmapContext: dirty.context } : {}),
      stop: async () => {
        if (!up) return;
        up = false;
        if (this.stopped.get(sock)?.exp !== exp) return; // reaped already
        this.stopped.delete(sock);
        this.files.delete(sock);
        img.readers.delete(sock);
      },
    };
  }

  async stopLeftoverExports(dir: string): Promise<number> {
    const prefix = `${dir.replace(/\/+$/, '')}/`;
    const socks = [...this.stopped.keys()].filter((s) => s.startsWith(prefix));
    for (const sock of socks) {
      const { image } = this.stopped.get(sock)!;
      this.stopped.delete(sock);
      this.files.delete(sock);
      this.images.get(image)?.readers.delete(sock);
    }
    return socks.length;
  }

  // ---- internals ----

  private info(d: MemDomain): DomainInfo {
    return { name: d.name, uuid: d.uuid, state: d.state, persistent: d.persistent, ...(d.id !== undefined ? { id: d.id } : {}) };
  }

  private findOptional(ref: DomainRef): MemDomain | undefined {
    return this.domains.get(ref) ?? [...this.domains.values()].find((d) => d.name === ref);
  }

  private find(ref: DomainRef): MemDomain {
    const d = this.findOptional(ref);
    if (!d) throw err('not-found', `no domain '${ref}'`);
    return d;
  }

  private disk(dom: MemDomain, target: string): DomainDisk {
    const d = dom.disks.find((x) => x.target === target);
    if (!d) throw err('not-found', `domain '${dom.name}' has no disk ${target} (it has ${dom.disks.map((x) => x.target).join(', ')})`);
    return d;
  }

  private image(path: string): MemImage {
    const img = this.images.get(path);
    if (!img) throw err('not-found', `no image ${path}`);
    return img;
  }

  private offlineWritable(path: string): MemImage {
    const img = this.image(path);
    if (img.holder || img.readers.size) throw err('busy', `image ${path} is in use (${img.holder ? 'a running VM' : 'a qemu-nbd export'}): stop it first`);
    return img;
  }

  private offlineBitmaps(img: MemImage): BitmapInfo[] {
    return [...img.bitmaps.values()].filter((b) => b.stored).map((b) => ({
      name: b.name, granularity: CHUNK, recording: b.recording, busy: false, inconsistent: b.inUse || b.inconsistent, persistent: true,
    }));
  }

  private open(dom: MemDomain): void {
    const imgs = dom.disks.map((d) => this.image(d.source));
    for (const img of imgs) {
      if (img.holder || img.readers.size) throw err('busy', `image ${img.path} is in use: cannot start '${dom.name}'`);
    }
    for (const img of imgs) {
      img.holder = dom.uuid;
      for (const b of img.bitmaps.values()) {
        if (b.inUse) { b.inconsistent = true; b.recording = false; }
        b.inUse = true;
      }
    }
    dom.state = 'running';
    dom.id = this.nextId++;
  }

  private close(dom: MemDomain, crashed: boolean): void {
    if (dom.state === 'shutoff') throw err('not-running', `domain '${dom.name}' is not running`);
    this.endJob(dom);
    dom.foreignJob = undefined;
    for (const d of dom.disks) {
      const img = this.image(d.source);
      img.holder = undefined;
      for (const b of [...img.bitmaps.values()]) {
        if (crashed) {
          if (!b.stored) img.bitmaps.delete(b.name);
        } else {
          b.stored = true;
          b.inUse = b.inconsistent; // QEMU leaves an inconsistent bitmap flagged in-use
        }
      }
    }
    dom.state = 'shutoff';
    dom.frozen = false;
    delete dom.id;
    if (!dom.persistent) this.domains.delete(dom.uuid);
  }

  private endJob(dom: MemDomain): void {
    if (!dom.job) return;
    for (const f of dom.job.files) this.files.delete(f);
    dom.job = undefined;
  }

  private guestWrite(ref: DomainRef, disk: string, offset: number, data: Buffer | { zero: number }): void {
    const dom = this.find(ref);
    if (dom.state !== 'running') throw err('not-running', `domain '${dom.name}' is ${dom.state}: the guest cannot write`);
    const img = this.image(this.disk(dom, disk).source);
    const touched = img.disk.write(offset, data);
    for (const b of img.bitmaps.values()) if (b.recording && !b.inconsistent) for (const c of touched) b.dirty.add(c);
  }
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it is aborted. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
