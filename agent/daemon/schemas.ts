/**
 * @layer logic
 * The daemon's wire vocabulary (zod v4): the bodies the control plane sends to start a backup, a
 * restore or a verification, and the outcomes a finished job carries. Every body is `strict`: a
 * mistyped field is a 400 that names it, never something silently ignored. Paths (identity,
 * known_hosts, restore destination) are paths ON THE AGENT HOST and must be absolute.
 */
import { z } from 'zod';
import { PointManifest, SOURCE_PLATFORMS } from '../repository/manifest.ts';
import { parseTargetUrl } from '../target/url.ts';

/** a repository location: a directory or ssh://user@host[:port]/path (checked like the CLI does) */
const RepoUrl = z.string().min(1).superRefine((url, ctx) => {
  try {
    parseTargetUrl(url);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

const AbsPath = z.string().min(1).refine((p) => p.startsWith('/') && !p.includes('\0'), 'must be an absolute path on the agent host');

/** the repository's VM directory name (repository/layout.ts assertVmDir) */
const VmId = z.string().regex(/^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$/, "letters, digits, '.', '_' and '-' only").refine((s) => !s.includes('..'), "must not contain '..'");

const DiskTarget = z.string().regex(/^[a-z]+[a-z0-9]*$/, "a target dev like 'vda'");

const PointId = z.string().regex(/^\d{8}-\d{6}$/, 'a point id like 20250101-120000');

/** where the repository is and how to reach it (SSH key and pinned host keys on the agent host) */
const RepoAccess = {
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

export const RestoreBody = z.strictObject({
  ...RepoAccess,
  vmId: VmId,
  disk: DiskTarget,
  /** default: the newest point */
  point: PointId.optional(),
  /** the file to write on the agent host */
  to: AbsPath,
  format: z.enum(['qcow2', 'raw']).default('qcow2'),
  overwrite: z.boolean().default(false),
});
export type RestoreBody = z.output<typeof RestoreBody>;
/** what a client sends (defaults not yet applied) */
export type RestoreInput = z.input<typeof RestoreBody>;

export const VerifyBody = z.strictObject({
  ...RepoAccess,
  vmId: VmId,
  /** default: every point of the VM */
  point: PointId.optional(),
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
  to: z.string(),
  format: z.enum(['qcow2', 'raw']),
  virtualSize: z.number(),
  bytesRead: z.number(),
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
    disks: z.array(z.object({ target: z.string(), ok: z.boolean(), problems: z.array(z.string()), bytesRead: z.number(), chain: z.array(z.string()) })),
  })),
  durationMs: z.number(),
});
export type VerifyOutcome = z.output<typeof VerifyOutcome>;

/** Every issue of a failed parse on one line: `disks[0]: a target dev like 'vda'; repo: Required`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.').replace(/\.(\d+)/g, '[$1]') : 'body'}: ${i.message}`).join('; ');
}
