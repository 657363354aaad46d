/**
 * @layer port
 * AgentGateway: how the control plane drives the Sendense agent on a KVM host. The control plane
 * names the host by its CloudStack host id; the adapter knows how to reach that host's agent
 * (the SSH link to the agent daemon's unix socket, agent/link/; in tests the in-memory agent of
 * memory.ts). The verbs, all taking an AbortSignal:
 *
 *   startBackup(hostId, req) → { agentJobId }   the agent accepted the job (it runs on the host,
 *                                               whatever happens to the control plane)
 *   startRestore(hostId, req) → { agentJobId }  one disk of a point to a file, onto a stopped VM's
 *                                               volume (in place), or POSTed to an upload URL
 *   startVerify(hostId, req) → { agentJobId }   re-read points (and optionally restore-test them)
 *   startPrune(hostId, req) → { agentJobId }    remove points, merging survivors forward first
 *   scan(hostId, req) → ScanOutcome             the repository's VMs, points and bytes (synchronous)
 *   startImport?(hostId, req) → { agentJobId }  a VMware export on the agent host into the repository
 *                                               (optional: the in-memory agent imports nothing)
 *   exportImage(hostId, req) → AgentExport      one disk of a point as a qcow2 or raw byte stream
 *   jobStatus(hostId, agentJobId) → status      kind, state, progress, and the result or error when done
 *   events(hostId, agentJobId) → async iterable progress and state events, live
 *   cancel(hostId, agentJobId)                  asks the agent to stop the job
 *   health(hostId) → { hostname, version, capabilities }
 *
 * Contract (contract.ts runs it against every adapter):
 * - Errors are AgentGatewayError with a code: `unreachable` (no link to the agent: host down,
 *   SSH refused, daemon not running), `unknown_job` (the agent does not know this job id — a
 *   restarted agent that lost its journal), `rejected` (the agent refused the request, e.g. the
 *   VM is already being backed up; `message` says why), `protocol` (an answer that is not what
 *   the agent daemon sends), `aborted` (the caller's signal).
 * - A job id is stable: jobStatus and events work for as long as the agent keeps its journal,
 *   from any later connection and any control-plane process (a restarted control plane finds its
 *   jobs again through the agent job ids it recorded).
 * - `events` first yields a `state` event with the job's current status, then `progress` events
 *   and a `state` event at every state change; it ends after the terminal `state` event (a job
 *   already finished yields just that one). A dropped link makes it throw `unreachable`: the
 *   caller polls jobStatus and subscribes again. Breaking out of the loop (or the signal) stops it.
 * - `cancel` of a finished job is a no-op; of a running one, the job ends `cancelled` (or
 *   `succeeded`/`failed` when it finished first): the agent never records a point for a job it
 *   reports cancelled or failed.
 * - The result of a succeeded backup carries the point's manifest as the agent wrote it to the
 *   repository (agent/repository/manifest.ts). The control plane validates it with zod before
 *   recording anything: it is a trust boundary.
 * - `mode`: `full` forces a full, `auto` lets the agent take an incremental when the parent's
 *   checkpoint is usable (it takes a full and says why otherwise), `incremental` fails when an
 *   incremental is impossible. The control plane sends `full` or `auto` (api/policy/decide.ts).
 * - Job status is kind-aware: `kind` says what the job is, and a succeeded job carries its typed
 *   outcome — `result` (backup), `restore`, `verify` or `prune` — validated with the daemon's own
 *   zod schemas at the boundary (an outcome that does not parse is a `protocol` error).
 * - A restore reads the chain and checks every block against the point's digests; an in-place
 *   restore keeps the volume's previous content until the restored image is verified and puts it
 *   back on any failure or cancel (the agent's promise, agent/daemon/schemas.ts).
 * - `exportImage` resolves once the agent started answering: `size` is the byte count when the
 *   agent knows it up front; aborting the signal (or cancelling the stream) stops the agent's read.
 *   A point or disk that does not exist is `rejected` before any byte.
 */
import type { PointManifest } from '../../agent/repository/manifest.ts';
import type { PruneOutcome, RestoreOutcome, ScanOutcome, VerifyOutcome } from '../../agent/daemon/schemas.ts';
import type { VmwareImportOutcome } from '../../agent/vmware/requests.ts';

export type { PruneOutcome, RestoreOutcome, ScanOutcome, VerifyOutcome, VmwareImportOutcome };

export type AgentBackupMode = 'full' | 'incremental' | 'auto';

export interface AgentBackupRequest {
  /** the control plane's job id: the agent logs it and may use it to refuse a duplicate */
  requestId: string;
  /** the CloudStack VM uuid: the repository's vm_uuid */
  vmId: string;
  /** the libvirt domain (CloudStack's instancename) */
  domain: string;
  mode: AgentBackupMode;
  /** where the agent writes: ssh://user@host[:port]/path or a directory on the host */
  repository: string;
  /** libvirt disk targets (vda, vdb); all of the domain's disks when omitted */
  disks?: string[];
  quiesce?: boolean;
  /** stored in the repository's metadata.json (platform_metadata.cloudstack) */
  platformMetadata?: { cloudstack?: { vm_id?: string; zone?: string; service_offering?: string; template?: string } };
}

export type AgentImageFormat = 'qcow2' | 'raw';

/** where a restore writes, always ON THE AGENT HOST's side of the wire */
export type AgentRestoreDestination =
  /** a file on the agent host */
  | { kind: 'file'; path: string; format?: AgentImageFormat; overwrite?: boolean }
  /** a stopped VM's volume file (format: the volume's current one when omitted) */
  | { kind: 'volume'; path: string; format?: AgentImageFormat }
  /** multipart POST (field `file`) to an upload URL, e.g. CloudStack's getUploadParamsForVolume */
  | { kind: 'upload'; url: string; headers?: Record<string, string>; format?: AgentImageFormat };

/** The repository a request is about; the adapter adds how the agent reaches it (its SSH key). */
export interface AgentRepoRequest {
  /** the control plane's id for this request: a retry with the same id returns the same job */
  requestId: string;
  /** ssh://user@host[:port]/path or a directory on the host */
  repository: string;
  vmId: string;
}

export interface AgentRestoreRequest extends AgentRepoRequest {
  /** libvirt target of the disk in the point (vda) */
  disk: string;
  /** default: the newest point */
  point?: string;
  destination: AgentRestoreDestination;
}

export interface AgentVerifyRequest extends AgentRepoRequest {
  /** default: every point of the VM */
  point?: string;
  /** also restore each point to a scratch file and compare with its digests end to end */
  restoreTest?: boolean;
}

export interface AgentPruneRequest extends AgentRepoRequest {
  /** the point ids to remove (merges keep every other point restorable) */
  remove: string[];
}

/** A VMware export (an .ova, .ovf or datastore VM folder) on the agent host, into the repository. */
export interface AgentImportRequest {
  requestId: string;
  repository: string;
  /** the export's path ON THE AGENT HOST (below the agent's import root) */
  path: string;
  /** default: the VM's instance UUID, else its BIOS UUID */
  vmId?: string;
  mode?: 'auto' | 'full';
}

export interface AgentScanRequest {
  repository: string;
  /** default: every VM in the repository */
  vmId?: string;
}

export interface AgentExportRequest {
  repository: string;
  vmId: string;
  disk: string;
  /** default: the newest point */
  point?: string;
  format: AgentImageFormat;
}

export interface AgentExport {
  stream: ReadableStream<Uint8Array>;
  /** bytes the stream carries, when the agent says so up front */
  size?: number;
  format: AgentImageFormat;
  /** the point exported (the newest when none was asked for), when the agent says */
  pointId?: string;
  disk: string;
}

export type AgentJobKind = 'backup' | 'restore' | 'verify' | 'prune' | 'import';

export type AgentJobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const AGENT_TERMINAL_STATES: readonly AgentJobState[] = ['succeeded', 'failed', 'cancelled'];

export interface AgentProgress {
  /** the disk being copied (libvirt target) */
  disk: string;
  diskIndex: number;
  disks: number;
  /** over all disks */
  bytesRead: number;
  bytesToRead: number;
  bytesWritten: number;
}

export interface AgentBackupResult {
  manifest: PointManifest;
  bytesRead: number;
  bytesSent: number;
  durationMs: number;
}

export interface AgentJobStatus {
  agentJobId: string;
  /** what the job is (a status without it is a backup's: adapters always set it) */
  kind?: AgentJobKind;
  state: AgentJobState;
  progress?: AgentProgress;
  /** present when a backup succeeded */
  result?: AgentBackupResult;
  /** present when a restore succeeded */
  restore?: RestoreOutcome;
  /** present when a verification succeeded (it may have found problems: `ok` says) */
  verify?: VerifyOutcome;
  /** present when a prune succeeded */
  prune?: PruneOutcome;
  /** present when an import succeeded */
  import?: VmwareImportOutcome;
  /** present when state is failed (and, with the reason, when cancelled) */
  error?: { code: string; message: string };
  startedAt?: string;
  finishedAt?: string;
}

export type AgentJobEvent =
  | { type: 'state'; status: AgentJobStatus }
  | { type: 'progress'; progress: AgentProgress };

export interface AgentHealth {
  hostname: string;
  version: string;
  capabilities: Record<string, unknown>;
  /** the SSH host key fingerprint the link pinned, when there is a link */
  sshKeyFingerprint?: string;
}

export type AgentGatewayErrorCode = 'unreachable' | 'unknown_job' | 'rejected' | 'protocol' | 'aborted';

export class AgentGatewayError extends Error {
  override name = 'AgentGatewayError';
  constructor(readonly code: AgentGatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message.startsWith('[') ? message : `[agent-gateway] ${message}`, options);
  }
}

export interface GatewayCallOptions {
  signal?: AbortSignal;
}

export interface AgentGateway {
  startBackup(hostId: string, req: AgentBackupRequest, opts?: GatewayCallOptions): Promise<{ agentJobId: string }>;
  startRestore(hostId: string, req: AgentRestoreRequest, opts?: GatewayCallOptions): Promise<{ agentJobId: string }>;
  startVerify(hostId: string, req: AgentVerifyRequest, opts?: GatewayCallOptions): Promise<{ agentJobId: string }>;
  startPrune(hostId: string, req: AgentPruneRequest, opts?: GatewayCallOptions): Promise<{ agentJobId: string }>;
  scan(hostId: string, req: AgentScanRequest, opts?: GatewayCallOptions): Promise<ScanOutcome>;
  startImport?(hostId: string, req: AgentImportRequest, opts?: GatewayCallOptions): Promise<{ agentJobId: string }>;
  exportImage(hostId: string, req: AgentExportRequest, opts?: GatewayCallOptions): Promise<AgentExport>;
  jobStatus(hostId: string, agentJobId: string, opts?: GatewayCallOptions): Promise<AgentJobStatus>;
  events(hostId: string, agentJobId: string, opts?: GatewayCallOptions): AsyncIterable<AgentJobEvent>;
  cancel(hostId: string, agentJobId: string, opts?: GatewayCallOptions): Promise<void>;
  health(hostId: string, opts?: GatewayCallOptions): Promise<AgentHealth>;
}
