/**
 * @layer logic
 * The engine's requests and outcomes (zod v4), which are also the daemon's wire vocabulary: the
 * bodies the control plane sends to start a backup, a restore, a verification or a prune, and the
 * outcomes a finished job carries. The CLI builds the same requests from its options. Every
 * body is `strict`: a mistyped field is a 400 that names it, never something silently ignored.
 * Paths (identity, known_hosts, restore destination) are paths ON THE AGENT HOST and must be
 * absolute.
 */
import { z } from 'zod';
import { PointManifest, SOURCE_PLATFORMS, VmMetadata } from '../repository/manifest.ts';
import { parseTargetUrl } from '../target/url.ts';

/** a repository location: a directory or ssh://user@host[:port]/path (checked like the CLI does) */
const RepoUrl = z.string().min(1).superRefine((url, ctx) => {
  try {
    parseTargetUrl(url);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

export const AbsPath = z.string().min(1).refine((p) => p.startsWith('/') && !p.includes('\0'), 'must be an absolute path on the agent host');

/** the repository's VM directory name (repository/layout.ts assertVmDir) */
export const VmId = z.string().regex(/^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$/, "letters, digits, '.', '_' and '-' only").refine((s) => !s.includes('..'), "must not contain '..'");

const DiskTarget = z.string().regex(/^[a-z]+[a-z0-9]*$/, "a target dev like 'vda'");

const PointId = z.string().regex(/^\d{8}-\d{6}$/, 'a point id like 20250101-120000');

/** where the repository is and how to reach it (SSH key and pinned host keys on the agent host) */
export const RepoAccess = {
  repo: RepoUrl,
  identity: AbsPath.optional(),
  knownHosts: AbsPath.optional(),
  /**
   * the caller's id for this request: submitting again with the same requestId returns the job
   * the first submission created (200 instead of 202) — a retry after a lost answer is safe
   */
  requestId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, "letters, digits, '.', '_', ':' and '-' (at most 128)").optional(),
};

export const BackupBody = z.strictObject({
  /** libvirt domain name or UUID (CloudStack: the instance name, i-2-10-VM) */
  domain: z.string().min(1).max(256),
  /** the repository's VM id; default: the domain's UUID */
  vmId: VmId.optional(),
  mode: z.enum(['auto', 'full', 'incremental']).default('auto'),
  disks: z.array(DiskTarget).min(1).optional(),
  quiesce: z.boolean().default(false),
  ...RepoAccess,
  sourcePlatform: z.enum(SOURCE_PLATFORMS).optional(),
  /** recorded in the repository's metadata.json (e.g. {cloudstack: {vm_id, zone, …}}) */
  platformMetadata: z.record(z.string(), z.unknown()).optional(),
});
export type BackupBody = z.output<typeof BackupBody>;
/** what a client sends (defaults not yet applied) */
export type BackupInput = z.input<typeof BackupBody>;

/**
 * A restore writes exactly one destination:
 * - `to` (+ format, overwrite): a file on the agent host;
 * - `inPlace`: a stopped VM's volume file on the agent host. The volume's previous content is kept
 *   (renamed aside in the same directory) until the restored image is verified and in place, and is
 *   put back on any failure; `format` defaults to the volume's current format. A volume that a
 *   running domain uses is refused.
 * - `upload`: an HTTP(S) POST of the image (multipart/form-data, field `file`) to a URL such as the
 *   one CloudStack's getUploadParamsForVolume returns, with the headers it returns (X-signature,
 *   X-metadata, X-expires). The bytes are verified against the point's digests as they are read.
 */
const InPlace = z.strictObject({
  /** the volume file (CloudStack: /mnt/<pool uuid>/<volume path>) */
  path: AbsPath,
  format: z.enum(['qcow2', 'raw']).optional(),
});
const Upload = z.strictObject({
  url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
  headers: z.record(z.string(), z.string()).default({}),
  format: z.enum(['qcow2', 'raw']).default('qcow2'),
});
export const RestoreBody = z.strictObject({
  ...RepoAccess,
  vmId: VmId,
  disk: DiskTarget,
  /** default: the newest point */
  point: PointId.optional(),
  /** the file to write on the agent host */
  to: AbsPath.optional(),
  format: z.enum(['qcow2', 'raw']).default('qcow2'),
  overwrite: z.boolean().default(false),
  inPlace: InPlace.optional(),
  upload: Upload.optional(),
}).refine((b) => [b.to, b.inPlace, b.upload].filter((x) => x !== undefined).length === 1, {
  message: 'give exactly one destination: to (a file), inPlace (a volume) or upload (a URL)',
});
export type RestoreBody = z.output<typeof RestoreBody>;
/** what a client sends (defaults not yet applied) */
export type RestoreInput = z.input<typeof RestoreBody>;

export const VerifyBody = z.strictObject({
  ...RepoAccess,
  vmId: VmId,
  /** default: every point of the VM */
  point: PointId.optional(),
  /**
   * also a restore test: restore each verified point's disks to a scratch file on the agent host,
   * hash the file in 1 MiB blocks and compare with the point's digests end to end (then delete it)
   */
  restoreTest: z.boolean().default(false),
});
export type VerifyBody = z.output<typeof VerifyBody>;
/** what a client sends (defaults not yet applied) */
export type VerifyInput = z.input<typeof VerifyBody>;

export const BackupOutcome = z.object({
  pointId: z.string(),
  vmId: z.string(),
  type: z.enum(['full', 'incremental']),
  reason: z.string(),
  consistency: z.string(),
  bytesRead: z.number(),
  bytesSent: z.number(),
  durationMs: z.number(),
  /**
   * the point's manifest as the agent committed it to the repository (docs/FORMAT.md). Absent
   * only when reading it back after the commit failed: the point exists all the same (the job
   * succeeded), and the manifest is in the repository under points/<pointId>.json.
   */
  manifest: PointManifest.optional(),
});
export type BackupOutcome = z.output<typeof BackupOutcome>;

export const RestoreOutcome = z.object({
  pointId: z.string(),
  disk: z.string(),
  /** file: `to`; volume: the volume path; upload: the URL without its query */
  destination: z.enum(['file', 'volume', 'upload']).default('file'),
  to: z.string(),
  format: z.enum(['qcow2', 'raw']),
  virtualSize: z.number(),
  bytesRead: z.number(),
  /** bytes written to the destination (the file's size, or the bytes POSTed) */
  bytesWritten: z.number().optional(),
  chain: z.array(z.string()),
  contentSha256: z.string(),
  durationMs: z.number(),
});
export type RestoreOutcome = z.output<typeof RestoreOutcome>;

export const VerifyOutcome = z.object({
  vmId: z.string(),
  ok: z.boolean(),
  points: z.array(z.object({
    pointId: z.string(),
    ok: z.boolean(),
    disks: z.array(z.object({
      target: z.string(), ok: z.boolean(), problems: z.array(z.string()), bytesRead: z.number(), chain: z.array(z.string()),
      /** with `restoreTest`: the disk restored to a scratch file, hashed and compared with its digests end to end */
      restoreTest: z.object({ ok: z.boolean(), problems: z.array(z.string()), bytesChecked: z.number(), durationMs: z.number() }).optional(),
    })),
  })),
  durationMs: z.number(),
});
export type VerifyOutcome = z.output<typeof VerifyOutcome>;

/**
 * Retention on the repository (docs/FORMAT.md "Retention"): remove these points of one VM. A
 * remaining point whose parent is removed is first merged forward — rewritten as a full image
 * with the same content, verified against its own digests — so no remaining point is orphaned.
 * A crash at any step loses no remaining point (the next prune or backup finishes or rolls back).
 */
export const PruneBody = z.strictObject({
  ...RepoAccess,
  vmId: VmId,
  remove: z.array(PointId).min(1),
});
export type PruneBody = z.output<typeof PruneBody>;
export type PruneInput = z.input<typeof PruneBody>;

export const PruneOutcome = z.object({
  vmId: z.string(),
  removed: z.array(z.string()),
  /** each remaining point rewritten as a full, and the removed points folded into it */
  merged: z.array(z.object({ pointId: z.string(), from: z.array(z.string()), bytesWritten: z.number() })),
  /** file bytes removed minus file bytes written */
  bytesFreed: z.number(),
  durationMs: z.number(),
});
export type PruneOutcome = z.output<typeof PruneOutcome>;

/**
 * A download (synchronous, `POST /v1/exports`): one disk of one point as the response body, raw
 * or qcow2 (a standalone image). Raw is streamed as it is read and checked; qcow2 is built and
 * checked in a scratch file first, then streamed.
 */
export const ExportBody = z.strictObject({
  ...RepoAccess,
  vmId: VmId,
  disk: DiskTarget,
  /** default: the newest point */
  point: PointId.optional(),
  format: z.enum(['qcow2', 'raw']).default('raw'),
});
export type ExportBody = z.output<typeof ExportBody>;
export type ExportInput = z.input<typeof ExportBody>;

/** A repository listing (synchronous): the VMs in it with their metadata, points and bytes used. */
export const ScanBody = z.strictObject({
  ...RepoAccess,
  /** default: every VM in the repository */
  vmId: VmId.optional(),
});
export type ScanBody = z.output<typeof ScanBody>;
export type ScanInput = z.input<typeof ScanBody>;

export const ScanOutcome = z.object({
  vms: z.array(z.object({
    vmId: z.string(),
    metadata: VmMetadata.nullable(),
    points: z.array(PointManifest),
    /** bytes of every file under the VM's folder (images, digests, manifests, leftovers) */
    bytesUsed: z.number(),
    /** problems found while reading (an unreadable manifest, a missing image) */
    problems: z.array(z.string()),
  })),
});
export type ScanOutcome = z.output<typeof ScanOutcome>;

/** Every issue of a failed parse on one line: `disks[0]: a target dev like 'vda'; repo: Required`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.').replace(/\.(\d+)/g, '[$1]') : 'body'}: ${i.message}`).join('; ');
}
