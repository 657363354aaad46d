/**
 * @layer logic
 * The restore API's shapes (zod): the restore request, the download query, the restore list
 * query, the Restore answer and its mapper from the database row. The OpenAPI entries of the
 * restore routes are here too (api/http/openapi.ts lists them with the others).
 */
import { z } from 'zod';
import { RESTORE_KINDS, RESTORE_STATUSES, type Restore } from '../../db/schema.ts';
import type { RouteDoc } from './openapi.ts';
import { ErrorBody, Id, IdParam, PageQuery, errorFor, type View } from './schemas.ts';

const iso = z.iso.datetime();
const nonNegInt = z.number().int().nonnegative();
const target = z.string().regex(/^[a-z]+[a-z0-9]*$/, "a disk target like 'vda'");

export const RestoreBody = z.object({
  mode: z.enum(['in-place', 'new-volume']).meta({
    description: 'in-place: onto the VM\'s own volumes (the VM must be Stopped; CloudStack restoreBackupToVM); new-volume: each disk uploaded '
      + 'to CloudStack as a new volume (restoreBackedUpVolume). A download is GET /api/v1/restore-points/{id}/download.',
  }),
  disks: z.array(target).min(1).max(26).optional().meta({ description: 'the point\'s disks to restore (libvirt targets); default all: the whole VM' }),
  attachToVmId: Id.optional().meta({ description: 'new-volume: attach each new volume to this VM (the caller must be allowed to act on it)' }),
  name: z.string().min(1).max(200).regex(/^[\w .-]+$/, "letters, digits, ' ', '_', '.' and '-' only").optional()
    .meta({ description: 'new-volume: the volume name (suffixed with -<disk> when there are several); default <vm>-<disk>-restore-<point>' }),
  stopVm: z.boolean().optional().meta({ description: 'in-place: stop a running VM first (otherwise a running VM is refused with 409)' }),
  startVm: z.boolean().optional().meta({ description: 'in-place: start the VM when every disk is back' }),
  force: z.boolean().optional().meta({ description: 'in-place: restore although CloudStack lists VM snapshots of the VM (refused with 409 otherwise): they live inside its qcow2 volumes and are lost' }),
}).strict().superRefine((b, ctx) => {
  if (b.mode === 'in-place' && (b.attachToVmId || b.name)) ctx.addIssue({ code: 'custom', path: [b.attachToVmId ? 'attachToVmId' : 'name'], message: 'only for mode new-volume' });
  if (b.mode === 'new-volume' && (b.stopVm !== undefined || b.startVm !== undefined)) ctx.addIssue({ code: 'custom', path: [b.stopVm !== undefined ? 'stopVm' : 'startVm'], message: 'only for mode in-place' });
  if (b.mode === 'new-volume' && b.force !== undefined) ctx.addIssue({ code: 'custom', path: ['force'], message: 'only for mode in-place' });
}).meta({ id: 'RestoreRequest' });

export const DownloadQuery = z.object({
  disk: target.default('vda'),
  format: z.enum(['qcow2', 'raw']).default('qcow2'),
}).strict();

const statusList = z.string().transform((s, ctx) => {
  const parts = s.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = parts.filter((p) => !(RESTORE_STATUSES as readonly string[]).includes(p));
  if (bad.length) ctx.addIssue({ code: 'custom', message: `unknown status ${bad.join(', ')} (one of ${RESTORE_STATUSES.join(', ')})` });
  return parts as (typeof RESTORE_STATUSES)[number][];
});

export const RestoreListQuery = PageQuery.extend({
  vmId: Id.optional(),
  status: statusList.optional().meta({ description: `comma-separated: ${RESTORE_STATUSES.join(', ')}` }),
});

const RestoreDiskDto = z.object({
  target: z.string(),
  state: z.enum(['pending', 'running', 'uploaded', 'succeeded', 'failed', 'cancelled']),
  volumeId: z.string().nullable().meta({ description: 'in-place: the VM volume written; new-volume: the volume CloudStack created' }),
  attachedTo: z.string().nullable(),
  agentJobId: z.string().nullable().optional(),
  contentSha256: z.string().nullable().meta({ description: 'the restored content\'s digest, as the agent verified it' }),
  bytesRead: nonNegInt.nullable(),
  error: z.string().nullable(),
}).meta({ id: 'RestoreDisk' });

export const RestoreDto = z.object({
  id: z.string(), restorePointId: z.string(), pointId: z.string().nullable(), vmId: z.string(), kind: z.enum(RESTORE_KINDS),
  status: z.enum(RESTORE_STATUSES), progress: z.number().min(0).max(1),
  target: z.record(z.string(), z.unknown()).meta({ description: 'what was asked: mode, disks, attachToVmId, name, stopVm, startVm, format' }),
  disks: z.array(RestoreDiskDto),
  volumeIds: z.array(z.string()).meta({ description: 'new-volume: the new CloudStack volumes' }),
  vmStopped: z.boolean(), vmStarted: z.boolean(), bytesSent: nonNegInt.nullable(),
  hostId: z.string().nullable().optional(), error: z.object({ code: z.string(), message: z.string() }).nullable(),
  requestedBy: z.string().nullable(), createdAt: iso, startedAt: iso.nullable(), finishedAt: iso.nullable(),
}).meta({ id: 'Restore' });

export const RestoreList = z.object({ items: z.array(RestoreDto), total: nonNegInt, limit: nonNegInt, offset: nonNegInt }).meta({ id: 'RestoreList' });

interface StoredDisk {
  target: string; state: z.infer<typeof RestoreDiskDto>['state']; volumeId?: string; attachedTo?: string; agentJobId?: string;
  outcome?: { contentSha256?: string; bytesRead?: number }; error?: string;
}

/** The restore as the view may see it (schemas.ts `View`: no host, agent job ids or raw error texts for tenants). */
export function restoreDto(r: Restore, view: View): z.infer<typeof RestoreDto> {
  const res = (r.result ?? {}) as { disks?: StoredDisk[]; vmStopped?: boolean; vmStarted?: boolean; bytesSent?: number };
  const disks = (res.disks ?? []).map((x) => ({
    target: x.target, state: x.state, volumeId: x.volumeId ?? null, attachedTo: x.attachedTo ?? null,
    ...(view === 'root' ? { agentJobId: x.agentJobId ?? null } : {}),
    contentSha256: x.outcome?.contentSha256 ?? null, bytesRead: x.outcome?.bytesRead ?? null,
    error: x.error ? (view === 'root' ? x.error : errorFor(view, 'failed', x.error)!.message) : null,
  }));
  const t = r.target as { pointId?: unknown };
  return {
    id: r.id, restorePointId: r.restorePointId, pointId: typeof t.pointId === 'string' ? t.pointId : null, vmId: r.platformVmId, kind: r.kind,
    status: r.status, progress: r.progress, target: r.target, disks,
    volumeIds: r.kind === 'new-volume' ? disks.map((x) => x.volumeId).filter((x): x is string => !!x) : [],
    vmStopped: res.vmStopped ?? false, vmStarted: res.vmStarted ?? false, bytesSent: res.bytesSent ?? null,
    ...(view === 'root' ? { hostId: r.kvmHostId } : {}), error: errorFor(view, r.errorCode, r.error),
    requestedBy: r.requestedBy, createdAt: r.createdAt.toISOString(), startedAt: r.startedAt?.toISOString() ?? null, finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

export const DownloadLinkDto = z.object({
  path: z.string().meta({ description: 'the link, relative to the API\'s base URL (api/downloads/<signed token>): GET it without a token' }),
  expiresAt: iso,
}).meta({ id: 'DownloadLink' });

export const DownloadTokenParam = z.object({ token: z.string().min(20).max(2000).regex(/^[\w-]+\.[\w-]+$/, 'a download link token') });

export const RESTORE_ROUTES: RouteDoc[] = [
  {
    method: 'post', path: '/api/v1/restore-points/{id}/download-link', tag: 'restores', auth: 'user', params: IdParam, body: DownloadQuery,
    summary: 'A short-lived signed link (60 s, one download) to one disk of a point, for a browser to stream to a file: no token in the URL, no blob in memory',
    responses: { 201: DownloadLinkDto, 403: ErrorBody, 404: ErrorBody },
  },
  {
    method: 'get', path: '/api/downloads/{token}', tag: 'restores', auth: 'none', params: DownloadTokenParam,
    summary: 'The download a link grants (as GET /api/v1/restore-points/{id}/download); an expired, used or forged link is a 410/403 saying to start again',
    responses: { 200: 'binary', 403: ErrorBody, 410: ErrorBody, 502: ErrorBody },
  },
  {
    method: 'post', path: '/api/v1/restore-points/{id}/restore', tag: 'restores', auth: 'user', params: IdParam, body: RestoreBody,
    summary: 'Restore a point: in place onto the stopped VM (restoreBackupToVM) or as new CloudStack volumes, optionally attached (restoreBackedUpVolume); 202 with the restore',
    responses: { 202: RestoreDto, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody },
  },
  {
    method: 'get', path: '/api/v1/restore-points/{id}/download', tag: 'restores', auth: 'user', params: IdParam, query: DownloadQuery,
    summary: 'One disk of a point as a qcow2 or raw file, streamed from the agent (Content-Length, Content-Disposition); recorded as a download restore',
    responses: { 200: 'binary', 403: ErrorBody, 404: ErrorBody, 502: ErrorBody },
  },
  { method: 'get', path: '/api/v1/restores', summary: 'Restores of the VMs the caller may see, newest first', tag: 'restores', auth: 'user', query: RestoreListQuery, responses: { 200: RestoreList } },
  { method: 'get', path: '/api/v1/restores/{id}', summary: 'One restore', tag: 'restores', auth: 'user', params: IdParam, responses: { 200: RestoreDto, 404: ErrorBody } },
  { method: 'get', path: '/api/v1/restores/{id}/events', summary: 'Server-sent events: `restore` (the restore at every change, progress included) until it ends, then `end`', tag: 'restores', auth: 'user', params: IdParam, responses: { 200: 'sse' } },
  { method: 'post', path: '/api/v1/restores/{id}/cancel', summary: 'Cancel a running restore (an in-place disk being written is put back as it was); 202 with the restore', tag: 'restores', auth: 'user', params: IdParam, responses: { 202: RestoreDto, 409: ErrorBody } },
];
