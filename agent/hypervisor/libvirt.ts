/**
 * @layer adapter
 * LibvirtHypervisor: the Hypervisor port on a KVM host through `virsh -c qemu:///system`,
 * `qemu-img` and `qemu-nbd` (no shell anywhere). Notes on how libvirt 9 / QEMU 7.2 behave:
 * - Bitmaps of a running domain come from QMP `query-named-block-nodes` (via
 *   `virsh qemu-monitor-command`, which marks the domain "custom-monitor" tainted in libvirt's
 *   log): the image header of a running VM shows every bitmap 'in-use' and misses the ones
 *   created since it started. Stopped images are read with `qemu-img info`.
 * - A second `backup-begin` while a job runs blocks ~30 s on libvirt's job lock: the adapter
 *   checks first and answers 'job-active' at once; calls on one domain are serialised.
 * - libvirt reports a missing and an inconsistent bitmap alike ("missing or broken bitmap"):
 *   the adapter checks the incremental's bitmap itself to tell 'bitmap-missing' from
 *   'bitmap-inconsistent'.
 * - abortJob ends only Sendense's own jobs (job-owner.ts): any other domain job — a live
 *   migration, a dump, another tool's backup — rejects with 'job-active' "busy: <operation>".
 * - Scratch files are named `<domain-uuid>-<job>-<disk>.qcow2` in the job's scratchDir; libvirt
 *   deletes them when the job ends, abortJob removes any that are left, and the socket.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { backupXml, parseBackupXml, type RunningBackup } from './backup-xml.ts';
import { parseNodeBitmaps } from './bitmap-info.ts';
import { busyMessage, jobOperation, jobOwner } from './job-owner.ts';
import { newCheckpointXml, parseCheckpointXml, redefineCheckpointXml } from './checkpoint-xml.ts';
import { parseDacLabel, parseDomainDisks, parseDomInfo, type ParsedDisk } from './domain-xml.ts';
import { libvirtReason } from './libvirt-errors.ts';
import {
  assertSendenseName, HypervisorError,
  type BackupExport, type BackupJobSpec, type BitmapInfo, type CheckpointRecord, type DomainDisk,
  type DomainInfo, type DomainRef, type FreezeResult, type Hypervisor, type StoppedExport,
  type StoppedExportOptions, type ThawResult,
} from './port.ts';
import { bitmapOp, imageInfo } from './qemu-img.ts';
import { stopLeftoverQemuNbd } from '../nbd/qemu-nbd.ts';
import { exportImage } from './stopped-export.ts';
import { ensureQemuWritableDir, qemuConfOwner } from './qemu-owner.ts';
import { Virsh, type VirshOptions } from './virsh.ts';
import { CommandError } from '../system/run.ts';

interface JobFiles {
  domain: string;
  socketPath: string;
  scratch: string[];
  createdDirs: string[];
}

const err = (code: ConstructorParameters<typeof HypervisorError>[0], msg: string) => new HypervisorError(code, `[hypervisor] [libvirt] ${msg}`);

export class LibvirtHypervisor implements Hypervisor {
  readonly kind = 'libvirt';
  private readonly virsh: Virsh;
  private readonly jobs = new Map<string, JobFiles>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(opts: VirshOptions = {}) {
    this.virsh = new Virsh(opts);
  }

  /** Connects to libvirt ahead of the first call, in the background (adapter extra: the CLI
   * calls it before it opens the repository, so both connections are made at once). */
  warmUp(): void {
    this.virsh.warmUp();
  }

  async listDomains(signal?: AbortSignal): Promise<DomainInfo[]> {
    const uuids = (await this.virsh.call(['list', '--all', '--uuid'], { signal })).split('\n').map((s) => s.trim()).filter(Boolean);
    const out: (DomainInfo | undefined)[] = [];
    for (let i = 0; i < uuids.length; i += 4) {
      // four look-ups at a time; a domain can vanish in between (a transient one destroyed)
      out.push(...await Promise.all(uuids.slice(i, i + 4).map((u) => this.getDomain(u, signal).catch((e: unknown) => {
        if (e instanceof HypervisorError && e.code === 'not-found') return undefined;
        throw e;
      }))));
    }
    return out.filter((d): d is DomainInfo => d !== undefined);
  }

  async getDomain(ref: DomainRef, signal?: AbortSignal): Promise<DomainInfo> {
    const text = await this.virsh.call(['dominfo', ref], { signal });
    const info = parseDomInfo(text);
    if (!info) throw err('libvirt', `unreadable dominfo for '${ref}': ${text.slice(0, 200)}`);
    return info;
  }

  async disks(ref: DomainRef, signal?: AbortSignal): Promise<DomainDisk[]> {
    return (await this.parsedDisks(ref, signal)).map(({ index: _index, ...d }) => d);
  }

  async bitmaps(ref: DomainRef, disk: string, signal?: AbortSignal): Promise<BitmapInfo[]> {
    const dom = await this.getDomain(ref, signal);
    const d = this.pick(await this.parsedDisks(dom.uuid, signal), disk, dom.name);
    if (dom.state === 'shutoff') {
      if (d.format !== 'qcow2' || (d.kind !== 'file' && d.kind !== 'block')) return [];
      return (await imageInfo(d.source, 'qcow2', signal)).bitmaps;
    }
    return this.liveBitmapsOf(dom.uuid, d, signal);
  }

  /** A disk's virtual size in bytes (`domblkinfo` capacity; running or shut off). Not part of
   * the port: the backup engine takes it as BackupDeps.diskSize. */
  async diskSize(ref: DomainRef, disk: string, signal?: AbortSignal): Promise<number> {
    const out = await this.virsh.call(['domblkinfo', ref, disk], { signal });
    const m = /Capacity:\s+(\d+)/.exec(out);
    if (!m) throw err('libvirt', `domblkinfo ${ref} ${disk} gave no capacity: ${out.trim().slice(0, 200)}`);
    return Number(m[1]);
  }

  async imageBitmaps(image: string, signal?: AbortSignal): Promise<BitmapInfo[]> {
    return (await imageInfo(image, undefined, signal)).bitmaps;
  }

  async listCheckpoints(ref: DomainRef, signal?: AbortSignal): Promise<CheckpointRecord[]> {
    const names = await this.checkpointNames(ref, signal);
    const out: CheckpointRecord[] = [];
    for (const n of names) out.push(await this.checkpoint(ref, n, signal));
    return out;
  }

  async redefineCheckpoint(ref: DomainRef, rec: CheckpointRecord, signal?: AbortSignal): Promise<void> {
    assertSendenseName(rec.name, 'checkpoint');
    const dom = await this.getDomain(ref, signal);
    const disks = await this.parsedDisks(dom.uuid, signal);
    for (const d of rec.disks) this.pick(disks, d.target, dom.name);
    const known = await this.checkpointNames(dom.uuid, signal);
    const parent = rec.parent && rec.parent !== rec.name && known.includes(rec.parent) ? rec.parent : undefined;
    const xml = redefineCheckpointXml({ name: rec.name, creationTime: rec.creationTime, disks: rec.disks, ...(parent ? { parent } : {}) });
    await this.virsh.withXml([xml], ([f]) => ['checkpoint-create', dom.uuid, f, '--redefine'], { signal });
  }

  async deleteCheckpointMetadata(ref: DomainRef, name: string, signal?: AbortSignal): Promise<void> {
    assertSendenseName(name, 'checkpoint');
    try {
      await this.virsh.call(['checkpoint-delete', ref, name, '--metadata'], { signal });
    } catch (e) {
      if (e instanceof HypervisorError && e.code === 'checkpoint-missing') return;
      throw e;
    }
  }

  async removeBitmap(ref: DomainRef, disk: string, name: string, signal?: AbortSignal): Promise<void> {
    assertSendenseName(name, 'bitmap');
    const dom = await this.getDomain(ref, signal);
    const d = this.pick(await this.parsedDisks(dom.uuid, signal), disk, dom.name);
    const owner = (await this.listCheckpoints(dom.uuid, signal)).find((c) => c.disks.some((x) => x.target === disk && x.bitmap === name));
    if (owner) throw err('checkpoint-exists', `bitmap '${name}' on ${disk} of '${dom.name}' belongs to checkpoint '${owner.name}': deleteCheckpointMetadata first`);
    if (dom.state === 'shutoff') {
      if (d.format !== 'qcow2' || (d.kind !== 'file' && d.kind !== 'block')) return; // cannot hold one
      if (!(await imageInfo(d.source, 'qcow2', signal)).bitmaps.some((b) => b.name === name)) return;
      await bitmapOp('--remove', d.source, name, signal);
      return;
    }
    const present = (await this.liveBitmapsOf(dom.uuid, d, signal)).find((b) => b.name === name);
    if (!present) return;
    if (present.busy) throw err('job-active', `bitmap '${name}' on ${disk} is in use by a job: abortJob first`);
    const node = this.nodeName(d);
    if (!node) throw err('unsupported', `libvirt gave ${disk} of '${dom.name}' no node index: remove bitmap '${name}' while the VM is stopped`);
    const r = await this.virsh.qmp(dom.uuid, 'block-dirty-bitmap-remove', { node, name }, signal);
    if (r.error && !/not found/i.test(r.error.desc ?? '')) {
      throw err(/in use|busy/i.test(r.error.desc ?? '') ? 'job-active' : 'qemu', `removing bitmap '${name}' from ${disk} of '${dom.name}': ${r.error.desc}`);
    }
  }

  async beginBackup(ref: DomainRef, spec: BackupJobSpec, signal?: AbortSignal): Promise<BackupExport> {
    if (spec.checkpoint) assertSendenseName(spec.checkpoint.name, 'checkpoint');
    for (const d of spec.disks) if (d.incrementalFrom && !d.incrementalFrom.trim()) throw err('invalid', `disk ${d.target}: empty incrementalFrom`);
    if (!spec.disks.length) throw err('invalid', 'a backup job needs at least one disk');
    const targets = spec.disks.map((d) => d.target);
    if (new Set(targets).size !== targets.length) throw err('invalid', `disk listed twice in ${targets.join(',')}`);
    const dom = await this.getDomain(ref, signal);
    return this.locked(dom.uuid, async () => {
      if (dom.state !== 'running' && dom.state !== 'paused') throw err('not-running', `domain '${dom.name}' is ${dom.state}: back up its images with exportStopped`);
      // independent reads at once: each virsh call costs a process and a connection
      const [active, xml, cpNames] = await Promise.all([
        this.jobActive(dom.uuid, signal), this.virsh.call(['dumpxml', dom.uuid], { signal }), this.checkpointNames(dom.uuid, signal),
      ]);
      if (active) throw err('job-active', `domain '${dom.name}' already has a job (domjobinfo): abortJob first`);
      const all = parseDomainDisks(xml);
      for (const t of targets) this.pick(all, t, dom.name);
      const incrementals = [...new Set(spec.disks.flatMap((d) => (d.incrementalFrom ? [d.incrementalFrom] : [])))];
      for (const c of incrementals) {
        if (!cpNames.includes(c)) throw err('checkpoint-missing', `checkpoint '${c}' is unknown on '${dom.name}': redefine it from Sendense's record first`);
      }
      if (spec.checkpoint && cpNames.includes(spec.checkpoint.name)) throw err('checkpoint-exists', `checkpoint '${spec.checkpoint.name}' exists on '${dom.name}': pick a new name`);
      const [live, records] = await Promise.all([
        spec.checkpoint || incrementals.length ? this.liveBitmaps(dom.uuid, all, signal) : new Map<string, BitmapInfo[]>(),
        Promise.all(incrementals.map((c) => this.checkpoint(dom.uuid, c, signal))),
      ]);
      if (spec.checkpoint) {
        const name = spec.checkpoint.name;
        for (const t of spec.checkpoint.disks) {
          const d = this.pick(all, t, dom.name);
          if (d.format !== 'qcow2' || (d.kind !== 'file' && d.kind !== 'block')) throw err('unsupported', `disk ${t} is ${d.kind}/${d.format || '?'}: only a qcow2 file or device can hold a bitmap (back it up in full)`);
          if ((live.get(t) ?? []).some((b) => b.name === name)) throw err('bitmap-exists', `bitmap '${name}' already exists on ${t} of '${dom.name}': remove it or pick a new name`);
        }
      }
      for (const s of spec.disks) {
        if (!s.incrementalFrom) continue;
        const cp = records.find((c) => c.name === s.incrementalFrom)!;
        const bm = cp.disks.find((x) => x.target === s.target)?.bitmap;
        const b = bm ? (live.get(s.target) ?? []).find((x) => x.name === bm) : undefined;
        if (!b) throw err('bitmap-missing', `checkpoint '${cp.name}' has no bitmap in ${s.target}'s image (QEMU stopped before saving it): a full backup is needed`);
        if (b.inconsistent) throw err('bitmap-inconsistent', `bitmap '${b.name}' on ${s.target} of '${dom.name}' is inconsistent (QEMU was killed or the host crashed): a full backup is needed`);
      }
      if (existsSync(spec.socketPath)) throw err('invalid', `${spec.socketPath} exists: use a socket path unique to this job`);

      const owner = parseDacLabel(xml) ?? qemuConfOwner();
      const createdDirs: string[] = [];
      const sockDir = path.dirname(spec.socketPath);
      if (ensureQemuWritableDir(sockDir, owner)) createdDirs.push(sockDir);
      if (!existsSync(spec.scratchDir)) { mkdirSync(spec.scratchDir, { recursive: true, mode: 0o755 }); createdDirs.unshift(spec.scratchDir); }
      const job = randomUUID().slice(0, 8);
      const scratch = new Map(targets.map((t) => [t, path.join(spec.scratchDir, `${dom.uuid}-${job}-${t}.qcow2`)]));
      const files: JobFiles = { domain: dom.name, socketPath: spec.socketPath, scratch: [...scratch.values()], createdDirs };
      this.jobs.set(dom.uuid, files);
      const allTargets = all.map((d) => d.target);
      const docs = [backupXml(spec.socketPath, allTargets, spec.disks, scratch)];
      if (spec.checkpoint) docs.push(newCheckpointXml(spec.checkpoint.name, allTargets, spec.checkpoint.disks));
      let running: RunningBackup;
      try {
        await this.virsh.withXml(docs, (f) => ['backup-begin', dom.uuid, ...f], { signal });
        running = parseBackupXml(await this.virsh.call(['backup-dumpxml', dom.uuid], { signal }));
        if (signal?.aborted) throw signal.reason;
      } catch (e) {
        await this.endJob(dom.uuid, true).catch(() => {});
        throw e;
      }
      const byDisk = new Map(running.disks.map((d) => [d.disk, d]));
      return {
        socketPath: spec.socketPath,
        exports: spec.disks.map((s) => {
          const r = byDisk.get(s.target);
          const exportName = r?.exportName ?? s.target;
          const bitmap = r?.exportBitmap ?? (s.incrementalFrom ? `backup-${s.target}` : undefined);
          return {
            disk: s.target, socketPath: spec.socketPath, exportName, uri: `nbd+unix:///${encodeURIComponent(exportName)}?socket=${spec.socketPath}`,
            ...(s.incrementalFrom && bitmap ? { bitmapContext: `qemu:dirty-bitmap:${bitmap}` } : {}),
          };
        }),
        ...(spec.checkpoint ? { checkpoint: spec.checkpoint.name } : {}),
      };
    });
  }

  async jobActive(ref: DomainRef, signal?: AbortSignal): Promise<boolean> {
    try {
      const out = await this.virsh.call(['domjobinfo', ref], { signal });
      const type = /Job type:\s*(\S+)/.exec(out)?.[1];
      return type !== undefined && type !== 'None';
    } catch (e) {
      if (e instanceof HypervisorError && (e.code === 'not-found' || e.code === 'not-running')) return false;
      throw e;
    }
  }

  async abortJob(ref: DomainRef, signal?: AbortSignal): Promise<void> {
    const [dom, active] = await Promise.all([
      this.getDomain(ref, signal).catch((e: unknown) => {
        if (e instanceof HypervisorError && e.code === 'not-found') return undefined;
        throw e;
      }),
      this.jobActive(ref, signal),
    ]);
    if (!dom) {
      // the domain is gone (a transient one destroyed): only files can be left
      for (const [k, files] of this.jobs) if (k === ref || files.domain === ref) { removeJobFiles(files); this.jobs.delete(k); }
      return;
    }
    await this.locked(dom.uuid, () => this.endJob(dom.uuid, active, signal, dom.name));
  }

  async guestAgentAvailable(ref: DomainRef, timeoutMs: number): Promise<boolean> {
    return (await this.agentPing(ref, timeoutMs)) === undefined;
  }

  async guestAgentFreeze(ref: DomainRef, timeoutMs: number, signal?: AbortSignal): Promise<FreezeResult> {
    const t0 = Date.now();
    const why = await this.agentPing(ref, timeoutMs, signal);
    if (why !== undefined) return { ok: false, reason: 'unavailable', message: why };
    try {
      const out = await this.virsh.call(['domfsfreeze', ref], { timeoutMs: Math.max(1000, timeoutMs - (Date.now() - t0)), signal });
      return { ok: true, frozen: Number(/Froze (\d+)/.exec(out)?.[1] ?? 0) };
    } catch (e) {
      // a freeze that timed out or was cut short may still complete in the guest: thaw to be sure
      await this.guestAgentThaw(ref, timeoutMs).catch(() => {});
      if (signal?.aborted) throw signal.reason;
      return { ok: false, reason: 'failed', message: (e as Error).message };
    }
  }

  async guestAgentThaw(ref: DomainRef, timeoutMs: number, signal?: AbortSignal): Promise<ThawResult> {
    try {
      const out = await this.virsh.call(['domfsthaw', ref], { timeoutMs: Math.max(1000, timeoutMs), signal });
      return { ok: true, thawed: Number(/Thawed (\d+)/.exec(out)?.[1] ?? 0) };
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const m = (e as Error).message;
      const unavailable = /not configured|not connected|not responding|not running|not-found/i.test(m) || (e instanceof HypervisorError && (e.code === 'not-found' || e.code === 'not-running'));
      return { ok: false, reason: unavailable ? 'unavailable' : 'failed', message: m };
    }
  }

  async isPaused(ref: DomainRef, signal?: AbortSignal): Promise<boolean> {
    return (await this.getDomain(ref, signal)).state === 'paused';
  }

  async resume(ref: DomainRef, signal?: AbortSignal): Promise<void> {
    if (await this.isPaused(ref, signal)) await this.virsh.call(['resume', ref], { signal });
  }

  async addBitmapOffline(image: string, name: string, signal?: AbortSignal): Promise<void> {
    assertSendenseName(name, 'bitmap');
    const info = await imageInfo(image, undefined, signal);
    if (info.format !== 'qcow2') throw err('unsupported', `${image} is ${info.format}: only qcow2 holds bitmaps (back it up in full)`);
    if (info.bitmaps.some((b) => b.name === name)) throw err('bitmap-exists', `bitmap '${name}' already exists in ${image}`);
    await bitmapOp('--add', image, name, signal);
  }

  async removeBitmapOffline(image: string, name: string, signal?: AbortSignal): Promise<void> {
    assertSendenseName(name, 'bitmap');
    const info = await imageInfo(image, undefined, signal);
    if (!info.bitmaps.some((b) => b.name === name)) return;
    await bitmapOp('--remove', image, name, signal);
  }

  async exportStopped(image: string, opts: StoppedExportOptions, signal?: AbortSignal): Promise<StoppedExport> {
    const info = await imageInfo(image, opts.format, signal);
    if (opts.bitmap) {
      const b = info.bitmaps.find((x) => x.name === opts.bitmap);
      if (!b) throw err('bitmap-missing', `no bitmap '${opts.bitmap}' in ${image}: a full backup is needed`);
      if (b.inconsistent) throw err('bitmap-inconsistent', `bitmap '${opts.bitmap}' in ${image} is inconsistent (left in use by a QEMU that did not stop cleanly): a full backup is needed`);
    }
    return exportImage({ image, format: opts.format ?? info.format, socketPath: opts.socketPath, ...(opts.bitmap ? { bitmap: opts.bitmap } : {}), ...(signal ? { signal } : {}) });
  }

  async stopLeftoverExports(dir: string): Promise<number> {
    return stopLeftoverQemuNbd(dir);
  }

  // ---- internals ----

  private async parsedDisks(ref: DomainRef, signal?: AbortSignal): Promise<ParsedDisk[]> {
    return parseDomainDisks(await this.virsh.call(['dumpxml', ref], { signal }));
  }

  private pick(disks: ParsedDisk[], target: string, domain: string): ParsedDisk {
    const d = disks.find((x) => x.target === target);
    if (!d) throw err('not-found', `domain '${domain}' has no disk ${target} (it has ${disks.map((x) => x.target).join(', ') || 'none'})`);
    return d;
  }

  private nodeName(d: ParsedDisk): string | undefined {
    return d.index !== undefined ? `libvirt-${d.index}-format` : undefined;
  }

  /** Bitmaps of each disk (by target) of a running domain, from one QMP query. */
  private async liveBitmaps(uuid: string, disks: ParsedDisk[], signal?: AbortSignal): Promise<Map<string, BitmapInfo[]>> {
    const out = await this.virsh.call(['qemu-monitor-command', uuid, '{"execute":"query-named-block-nodes","arguments":{"flat":true}}'], { signal });
    const map = new Map<string, BitmapInfo[]>();
    for (const d of disks) {
      const nodeName = this.nodeName(d);
      const found = parseNodeBitmaps(out, { ...(nodeName ? { nodeName } : {}), file: d.source });
      if (found) map.set(d.target, found);
    }
    return map;
  }

  private async liveBitmapsOf(uuid: string, d: ParsedDisk, signal?: AbortSignal): Promise<BitmapInfo[]> {
    const found = (await this.liveBitmaps(uuid, [d], signal)).get(d.target);
    if (!found) throw err('qemu', `QEMU has no block node for ${d.target} (${d.source})`);
    return found;
  }

  private async checkpoint(ref: DomainRef, name: string, signal?: AbortSignal): Promise<CheckpointRecord> {
    return parseCheckpointXml(await this.virsh.call(['checkpoint-dumpxml', ref, name, '--no-domain'], { signal }));
  }

  private async checkpointNames(ref: DomainRef, signal?: AbortSignal): Promise<string[]> {
    const out = await this.virsh.call(['checkpoint-list', ref, '--name', '--topological'], { signal });
    return out.split('\n').map((s) => s.trim()).filter(Boolean);
  }

  /** undefined when the agent answers a ping, else why not. */
  private async agentPing(ref: DomainRef, timeoutMs: number, signal?: AbortSignal): Promise<string | undefined> {
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    try {
      await this.virsh.call(['qemu-agent-command', ref, '--timeout', String(secs), '{"execute":"guest-ping"}'], { timeoutMs: timeoutMs + 2000, signal });
      return undefined;
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const c = e instanceof HypervisorError ? e.cause : undefined;
      return c instanceof CommandError && c.code !== null ? `guest agent unavailable: ${libvirtReason(c.stderr)}` : `guest agent unavailable: ${(e as Error).message}`;
    }
  }

  /** Ends the domain's job (if any), waits for it to be gone, removes its files. */
  private async endJob(uuid: string, active: boolean, signal?: AbortSignal, name?: string): Promise<void> {
    const known = this.jobs.get(uuid);
    let files: JobFiles | undefined = known;
    if (active || (await this.jobActive(uuid, signal))) {
      // a job this process began is known; any other is ended only when it is a Sendense backup
      // (a crashed run's): a migration, a dump or another tool's backup is left alone (job-owner.ts)
      if (!known) {
        const operation = jobOperation(await this.virsh.call(['domjobinfo', uuid], { signal }));
        if (operation === undefined) { this.jobs.delete(uuid); return; }
        const dump = /^backup$/i.test(operation) ? await this.virsh.call(['backup-dumpxml', uuid], { signal }).then(parseBackupXml, () => undefined) : undefined;
        const owner = jobOwner(operation, dump);
        if (!owner.sendense) throw err('job-active', busyMessage(name ?? uuid, owner.what));
        if (dump) files = { domain: uuid, socketPath: dump.socketPath ?? '', scratch: dump.disks.flatMap((d) => (d.scratch ? [d.scratch] : [])), createdDirs: [] };
      }
      await this.virsh.call(['domjobabort', uuid], { signal }).catch((e: unknown) => {
        if (!/no job is active/i.test((e as Error).message)) throw e;
      });
      let still = await this.jobActive(uuid, signal);
      for (let i = 0; i < 200 && still; i++) {
        await new Promise((r) => setTimeout(r, 50));
        still = await this.jobActive(uuid, signal);
      }
      if (still) throw err('libvirt', `the job on ${uuid} did not end after domjobabort: check 'virsh domjobinfo ${uuid}'`);
    }
    if (files) removeJobFiles(files);
    this.jobs.delete(uuid);
  }

  /** Runs `fn` after any earlier locked call on this domain has finished. */
  private async locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(uuid) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.locks.set(uuid, tail);
    try {
      return await next;
    } finally {
      if (this.locks.get(uuid) === tail) this.locks.delete(uuid);
    }
  }
}

function removeJobFiles(files: JobFiles): void {
  const rmIf = (p: string, kind: 'socket' | 'file') => {
    try {
      const st = lstatSync(p);
      if ((kind === 'socket' && st.isSocket()) || (kind === 'file' && st.isFile())) rmSync(p, { force: true });
    } catch { /* gone */ }
  };
  if (files.socketPath) rmIf(files.socketPath, 'socket');
  for (const f of files.scratch) rmIf(f, 'file');
  for (const d of files.createdDirs) {
    try { rmdirSync(d); } catch { /* not empty or gone: not ours to force */ }
  }
}
