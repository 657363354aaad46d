/**
 * @layer port
 * Hypervisor: the agent's view of the KVM host — domains, their disks, the persistent dirty
 * bitmaps inside qcow2 images, libvirt checkpoints, pull-mode backup jobs (point-in-time NBD
 * exports), the QEMU guest agent, and stopped-disk exports through qemu-nbd. Adapters: libvirt
 * (virsh, qemu-img, qemu-nbd) and memory (tests, engine development).
 *
 * Contract (checked by hypervisor/contract.ts against every adapter, the real one included):
 * - Domains are addressed by name or UUID (`DomainRef`); an unknown one rejects with code
 *   'not-found'. Disks are addressed by target dev ('vda').
 * - Names: Sendense only ever creates, redefines, deletes or removes checkpoints and bitmaps whose
 *   names start with `sendense-` (SENDENSE_PREFIX). Any other name rejects with code 'prefix'
 *   BEFORE anything is done. Reading (list/bitmaps) shows every name, foreign ones included.
 * - bitmaps(): every bitmap of the disk's image with its flags. `inconsistent` is true for a
 *   bitmap QEMU marks inconsistent (running VM) and for one left 'in-use' in a stopped image
 *   (QEMU died without flushing it): such a bitmap cannot be used for an incremental.
 *   Works for a running or a stopped domain.
 * - Checkpoints: libvirt's metadata about bitmaps. A transient domain that is destroyed and
 *   re-created has NO checkpoints, but its bitmaps are still in the qcow2: `redefineCheckpoint`
 *   re-registers a record Sendense kept (no bitmap is created or changed), and
 *   `deleteCheckpointMetadata` forgets one without touching its bitmaps.
 * - beginBackup(): one pull-mode job per domain; all disks in `spec.disks` from one point in time.
 *   Rejects with 'job-active' when a job runs, 'not-running' when the domain is not running,
 *   'checkpoint-missing' when `incrementalFrom` is not a checkpoint the hypervisor knows (redefine
 *   it first), 'bitmap-inconsistent' when that checkpoint's bitmap is inconsistent and
 *   'bitmap-missing' when it is not in the image (QEMU was killed before it ever flushed it): both
 *   mean a full backup. 'bitmap-exists' / 'checkpoint-exists' when the new checkpoint's name is
 *   taken; 'unsupported' for a bitmap on a disk that cannot hold one (raw, network).
 *   On success the exports are readable at `socketPath` until abortJob(). Writes the guest makes
 *   after beginBackup resolves are not visible in the exports. The socket's directory is created
 *   and made writable by the QEMU user; scratch files live under `scratchDir` and are unique to
 *   the job, so concurrent jobs on different domains never collide.
 * - abortJob(): ends the domain's backup job — the normal end of a pull-mode backup as well as the
 *   abort. Idempotent (no job: resolves). Afterwards jobActive() is false and the job's socket and
 *   scratch files are gone. A checkpoint created by the job stays. Only Sendense's own job is
 *   ever ended: any other domain job (a live migration, a dump, another tool's backup) rejects
 *   with 'job-active', its message saying "busy: <what it is>", and is left running.
 * - Guest agent: guestAgentAvailable/Freeze resolve within about `timeoutMs` and never throw for
 *   an absent or silent agent (no channel, no OS): Freeze then answers {ok:false, reason:'unavailable'}
 *   and the backup is crash-consistent. guestAgentThaw never throws; it says what happened. Both
 *   take an AbortSignal: aborted, they reject with its reason (the only way they reject).
 * - Offline (stopped VM, or a CloudStack volume without a domain): addBitmapOffline adds a
 *   persistent recording bitmap to a qcow2 image; removeBitmapOffline removes one; exportStopped
 *   serves an image read-only over NBD (export name '') with the bitmap as
 *   'qemu:dirty-bitmap:<bitmap>'. They reject with 'busy' when a running QEMU holds the image.
 * - Every long call takes an optional AbortSignal and rejects when it is aborted, leaving no job.
 */

/** Sendense's namespace for checkpoints and bitmaps: nothing outside it is ever modified. */
export const SENDENSE_PREFIX = 'sendense-';

/** A domain's name or UUID. */
export type DomainRef = string;

export type DomainState = 'running' | 'paused' | 'shutoff' | 'other';

export interface DomainInfo {
  name: string;
  uuid: string;
  state: DomainState;
  /** false for a transient domain (`virsh create`, how CloudStack runs every VM) */
  persistent: boolean;
  /** libvirt's domain id while it runs */
  id?: number;
}

export type DiskKind = 'file' | 'block' | 'network' | 'volume';

export interface DomainDisk {
  /** target dev: 'vda' */
  target: string;
  kind: DiskKind;
  /** file or device path; for a network disk `protocol:name` (e.g. 'rbd:pool/image') */
  source: string;
  /** driver type: 'qcow2', 'raw', … ('' when libvirt does not say) */
  format: string;
  /** 'disk', 'cdrom', 'floppy', 'lun' */
  device: string;
  readonly: boolean;
  /** libvirt's device alias ('virtio-disk0') while the domain runs */
  alias?: string;
}

export interface BitmapInfo {
  name: string;
  /** bytes per bit */
  granularity: number;
  /** records writes ('auto' flag in the image) */
  recording: boolean;
  /** a job uses it right now (running domain) */
  busy: boolean;
  /** cannot be used: QEMU died without flushing it, or QEMU reports it inconsistent */
  inconsistent: boolean;
  /** stored in the qcow2 (survives a restart) */
  persistent: boolean;
}

export interface CheckpointDisk {
  /** target dev */
  target: string;
  /** bitmap name inside that disk's image (Sendense: the checkpoint's name) */
  bitmap: string;
}

/** What Sendense keeps about a checkpoint, to redefine it when libvirt has forgotten it. */
export interface CheckpointRecord {
  name: string;
  /** epoch seconds */
  creationTime: number;
  disks: CheckpointDisk[];
  parent?: string;
}

export interface BackupDiskSpec {
  /** target dev */
  target: string;
  /** export only what changed since this checkpoint (its bitmap is offered as a meta context);
   * omitted: the whole disk (a full backup of this disk) */
  incrementalFrom?: string;
}

export interface BackupJobSpec {
  /** disks to export; every other disk of the domain is left out of the job */
  disks: BackupDiskSpec[];
  /** create this checkpoint at the job's point in time, with a bitmap on each of `disks`
   * (qcow2 disks only: a raw or network disk cannot hold a bitmap) */
  checkpoint?: { name: string; disks: string[] };
  /** unix socket path for the NBD server, unique to the job. A missing directory is created
   * and given to the QEMU user (0770); an existing one must already be writable by it
   * ('invalid' otherwise: Sendense never hands over a directory it did not create). */
  socketPath: string;
  /** directory for the job's scratch files (created when missing; QEMU must be able to reach
   * it). Files are named `<domain-uuid>-<job>-<disk>.qcow2`, so jobs may share it. */
  scratchDir: string;
}

export interface DiskExport {
  /** target dev */
  disk: string;
  /** the job's unix socket (same as BackupExport.socketPath) */
  socketPath: string;
  /** NBD export name */
  exportName: string;
  /** 'nbd+unix:///<exportName>?socket=<socketPath>' */
  uri: string;
  /** meta context of the incremental's dirty bitmap, e.g. 'qemu:dirty-bitmap:backup-vda' */
  bitmapContext?: string;
}

export interface BackupExport {
  socketPath: string;
  exports: DiskExport[];
  /** the checkpoint created with the job, if any */
  checkpoint?: string;
}

export type FreezeResult =
  | { ok: true; frozen: number }
  | { ok: false; reason: 'unavailable' | 'failed'; message: string };

export type ThawResult =
  | { ok: true; thawed: number }
  | { ok: false; reason: 'unavailable' | 'failed'; message: string };

export interface StoppedExportOptions {
  /** unix socket path (its directory is created) */
  socketPath: string;
  /** bitmap to offer as 'qemu:dirty-bitmap:<bitmap>' */
  bitmap?: string;
  /** image format; default: detected */
  format?: string;
}

export interface StoppedExport {
  socketPath: string;
  /** always '' (qemu-nbd's default export) */
  exportName: string;
  uri: string;
  bitmapContext?: string;
  /** stops the server and removes the socket; idempotent */
  stop(): Promise<void>;
}

export interface Hypervisor {
  /** 'libvirt', 'memory': for messages and records */
  readonly kind: string;

  listDomains(signal?: AbortSignal): Promise<DomainInfo[]>;
  getDomain(ref: DomainRef, signal?: AbortSignal): Promise<DomainInfo>;
  disks(ref: DomainRef, signal?: AbortSignal): Promise<DomainDisk[]>;
  /** bitmaps of a domain's disk image, running or stopped */
  bitmaps(ref: DomainRef, disk: string, signal?: AbortSignal): Promise<BitmapInfo[]>;
  /** bitmaps of an image file no QEMU runs (CloudStack volume of a stopped VM) */
  imageBitmaps(image: string, signal?: AbortSignal): Promise<BitmapInfo[]>;

  listCheckpoints(ref: DomainRef, signal?: AbortSignal): Promise<CheckpointRecord[]>;
  /** re-registers a checkpoint libvirt forgot; no bitmap is created or checked (see bitmaps()).
   * A record with the same name is replaced. A parent the hypervisor does not know is left out
   * (libvirt refuses unknown parents); redefine parents first to keep the chain. */
  redefineCheckpoint(ref: DomainRef, rec: CheckpointRecord, signal?: AbortSignal): Promise<void>;
  /** forgets a checkpoint, leaving its bitmaps; a checkpoint that is not known resolves */
  deleteCheckpointMetadata(ref: DomainRef, name: string, signal?: AbortSignal): Promise<void>;
  /** removes a bitmap from a domain's disk (running: through QEMU; stopped: in the image);
   * a bitmap that is not there resolves. 'checkpoint-exists' while a known checkpoint still
   * refers to it (deleteCheckpointMetadata first); 'job-active' while a job uses it. */
  removeBitmap(ref: DomainRef, disk: string, name: string, signal?: AbortSignal): Promise<void>;

  beginBackup(ref: DomainRef, spec: BackupJobSpec, signal?: AbortSignal): Promise<BackupExport>;
  jobActive(ref: DomainRef, signal?: AbortSignal): Promise<boolean>;
  abortJob(ref: DomainRef, signal?: AbortSignal): Promise<void>;

  guestAgentAvailable(ref: DomainRef, timeoutMs: number): Promise<boolean>;
  /** aborted: rejects with the signal's reason, after a thaw (a freeze cut short may still complete in the guest) */
  guestAgentFreeze(ref: DomainRef, timeoutMs: number, signal?: AbortSignal): Promise<FreezeResult>;
  /** aborted: rejects with the signal's reason and the guest may still be frozen: thaw again without one */
  guestAgentThaw(ref: DomainRef, timeoutMs: number, signal?: AbortSignal): Promise<ThawResult>;
  isPaused(ref: DomainRef, signal?: AbortSignal): Promise<boolean>;
  resume(ref: DomainRef, signal?: AbortSignal): Promise<void>;

  addBitmapOffline(image: string, name: string, signal?: AbortSignal): Promise<void>;
  removeBitmapOffline(image: string, name: string, signal?: AbortSignal): Promise<void>;
  exportStopped(image: string, opts: StoppedExportOptions, signal?: AbortSignal): Promise<StoppedExport>;
  /** stops stopped-disk exports an interrupted run left with their socket under `dir` (at any
   * depth) and removes their sockets, so their images are free again; resolves with how many */
  stopLeftoverExports(dir: string, signal?: AbortSignal): Promise<number>;
}

export type HypervisorErrorCode =
  | 'not-found' // domain or disk
  | 'not-running' // a live operation on a stopped domain
  | 'job-active' // a backup job already runs on the domain
  | 'checkpoint-missing' // incremental from a checkpoint the hypervisor does not know
  | 'checkpoint-exists'
  | 'bitmap-missing'
  | 'bitmap-exists'
  | 'bitmap-inconsistent' // cannot be used: full backup required
  | 'busy' // image held by a running QEMU
  | 'prefix' // name outside the sendense- namespace
  | 'unsupported' // e.g. a bitmap on a raw disk
  | 'invalid' // a malformed request
  | 'libvirt' // anything else libvirt reported
  | 'qemu'; // anything else qemu-img / qemu-nbd reported

export class HypervisorError extends Error {
  override name = 'HypervisorError';
  constructor(readonly code: HypervisorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Throws 'prefix' unless `name` is in Sendense's namespace (and a sane libvirt/qcow2 name). */
export function assertSendenseName(name: string, what = 'name'): void {
  if (!name.startsWith(SENDENSE_PREFIX) || name.length === SENDENSE_PREFIX.length) {
    throw new HypervisorError('prefix', `[hypervisor] refusing to modify ${what} '${name}': Sendense only touches names starting with '${SENDENSE_PREFIX}' (others belong to CloudStack or the admin)`);
  }
  if (!/^[A-Za-z0-9._:-]+$/.test(name) || name.length > 1023) {
    throw new HypervisorError('invalid', `[hypervisor] ${what} '${name}' has characters outside [A-Za-z0-9._:-]: use a plain name like 'sendense-20250101-120000'`);
  }
}
