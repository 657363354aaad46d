/**
 * @layer port
 * The ports agent deployment works through, each with an in-memory adapter (memory.ts) and the
 * real one (ssh-host.ts, link-probe.ts):
 *
 * - `HostConnector.connect(target)` → `HostSession`: an administrative SSH session on one KVM
 *   host as the user the admin gives (root, or one that may `sudo` without a password), the host
 *   key PINNED: a host whose key is not pinned fails `host-key-unknown` with the key's fingerprint
 *   unless `acceptFingerprint` names exactly that key (then it is pinned and the session goes on);
 *   a key that differs from the pinned one fails `host-key-changed`, always. Wrong credentials are
 *   `auth-failed`, no connection `unreachable`, a sudo that wants a password `no-sudo`.
 * - `HostSession`: what deployment does on the host, as root, every call taking an AbortSignal.
 *   Contract: `facts` never throws for a missing tool (it reports null / false); `upload` writes
 *   the bytes to a fresh file only root can read and reports progress; `install` runs the
 *   distribution's package manager on an uploaded file (keeping a changed conffile) and fails
 *   `install-failed` with its output, or `disk-full`; `writeFile` replaces a file atomically
 *   with the given owner and mode; `readFile` of a missing file is null; `service` enables and
 *   (re)starts, or reads, the agent's systemd unit; `remove` uninstalls the package (purge: its
 *   data too) and is a no-op when it is not installed.
 * - `AgentProbe.health(target)`: the agent's health over the control plane's own link (the
 *   `sendense` user, the link key, the socket forward): `not-healthy` when it does not answer.
 * - `RepositoryKeys.authorize(publicKey, comment)` lets a host's own repository key in on the
 *   repository host (replacing the key with the same comment), `revoke(comment)` takes it away.
 */
import type { DeployErrorCode } from './errors.ts';
import type { PackageFormat } from './os-release.ts';

export interface DeployTarget {
  /** the CloudStack host id, when the host came from CloudStack */
  hostId?: string;
  name: string;
  address: string;
  /** default 22 */
  port?: number;
  clusterId?: string;
}

export interface AdminCredentials {
  user: string;
  /** a private key file on the control plane's machine */
  identityFile?: string;
  password?: string;
}

export interface ConnectOptions {
  credentials: AdminCredentials;
  /** the fingerprint ('SHA256:…') the admin accepts for an unpinned host */
  acceptFingerprint?: string;
  signal?: AbortSignal;
}

export interface HostFacts {
  /** /etc/os-release as it reads, null when there is none */
  osRelease: string | null;
  /** the installed sendense-agent's version, null when it is not installed */
  installedVersion: string | null;
  /** libvirt's daemon (libvirtd or virtqemud) is installed */
  libvirt: boolean;
  /** systemd runs the host (PID 1) */
  systemd: boolean;
  /** bytes free where packages are uploaded and installed (the smaller of /var/tmp and /usr) */
  freeBytes: number;
  /** the host's clock when asked, in ms since the epoch, and the control plane's at the same moment */
  hostClockMs: number;
  localClockMs: number;
}

export interface UploadOptions {
  signal?: AbortSignal;
  onProgress?: (bytesSent: number) => void;
}

export interface WriteFileOptions {
  owner: string;
  group: string;
  mode: number;
  signal?: AbortSignal;
}

export interface ServiceState {
  enabled: boolean;
  active: boolean;
}

export interface HostSession {
  /** 'user@host:port', for messages */
  readonly where: string;
  /** the host key the session pinned ('SHA256:…') */
  readonly hostKeyFingerprint: string;
  facts(opts?: { signal?: AbortSignal }): Promise<HostFacts>;
  /** returns the remote path of the uploaded file */
  upload(name: string, data: Uint8Array, opts?: UploadOptions): Promise<string>;
  install(remoteFile: string, format: PackageFormat, opts?: { signal?: AbortSignal }): Promise<void>;
  readFile(path: string, opts?: { signal?: AbortSignal }): Promise<string | null>;
  writeFile(path: string, content: string, opts: WriteFileOptions): Promise<void>;
  /** 'start' enables and starts (restarts when running) the unit; 'state' reads it */
  service(action: 'start' | 'restart' | 'state', opts?: { signal?: AbortSignal }): Promise<ServiceState>;
  /** true when there was something to remove (a purge also takes what an earlier remove left) */
  remove(format: PackageFormat, purge: boolean, opts?: { signal?: AbortSignal }): Promise<boolean>;
  /** checks sshd's configuration (sshd -t) and makes the running sshd read it again */
  reloadSshd(opts?: { signal?: AbortSignal }): Promise<void>;
  /** removes a file or directory tree (no error when missing) */
  removePath(path: string, opts?: { signal?: AbortSignal }): Promise<void>;
  close(): Promise<void>;
}

export interface HostConnector {
  connect(target: DeployTarget, opts: ConnectOptions): Promise<HostSession>;
}

/** What the agent's health says, as deployment checks it. */
export interface AgentHealthReport {
  ok: boolean;
  problems: string[];
  version: string;
  hostname: string;
  libvirtVersion: string | null;
  qemuVersion: string | null;
  /** pull-mode backup with checkpoints (libvirt's <backup supported='yes'/>) */
  checkpoints: boolean;
  workDir?: { path: string; freeBytes: number };
  runningJobs: number;
}

export interface AgentProbe {
  health(target: DeployTarget, opts?: { signal?: AbortSignal }): Promise<AgentHealthReport>;
}

export interface RepositoryKeys {
  authorize(publicKey: string, comment: string, opts?: { signal?: AbortSignal }): Promise<void>;
  revoke(comment: string, opts?: { signal?: AbortSignal }): Promise<void>;
}

export interface KeyPair {
  /** OpenSSH private key */
  privateKey: string;
  /** 'ssh-ed25519 AAAA… comment' */
  publicKey: string;
}

/** The package the control plane hands out for one format. */
export interface AgentPackage {
  format: PackageFormat;
  version: string;
  fileName: string;
  read(): Promise<Uint8Array>;
  size: number;
}

export type { DeployErrorCode };
