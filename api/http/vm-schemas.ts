/**
 * @layer logic
 * The VM list's and the overview's API shapes (zod): the list query (search, filters, sort,
 * page), each row with its protection (so a page needs no request per VM), the overview's exact
 * figures, and their mappers and OpenAPI entries (api/http/openapi.ts lists them with the others).
 */
import { z } from 'zod';
import { ASSIGNMENT_KINDS, BACKUP_TYPES, JOB_STATUSES, SOURCE_PLATFORMS, VERIFICATION_STATUSES, type AssignmentKind } from '../../db/schema.ts';
import { PROTECTIONS, VM_SORTS, type VmProtection } from '../../db/store.ts';
import type { RouteDoc } from './openapi.ts';
import { ErrorBody, Id, PageQuery, VmDto, errorFor, type View } from './schemas.ts';

const iso = z.iso.datetime();
const nonNegInt = z.number().int().nonnegative();

export const VmListQuery = PageQuery.extend({
  search: z.string().max(255).optional().meta({ description: 'name or display name contains (case-insensitive)' }),
  hostId: Id.optional(),
  zoneId: Id.optional(),
  protection: z.enum(PROTECTIONS).optional().meta({
    description: 'failing: the newest finished backup failed; protected: otherwise, with a restore point; unprotected: neither',
  }),
  platform: z.enum(SOURCE_PLATFORMS).optional().meta({ description: 'the newest restore point\'s source platform (cloudstack without one)' }),
  account: z.string().min(1).max(255).optional().meta({ description: 'the CloudStack account name (with domainId: of that domain)' }),
  domainId: Id.optional(),
  sort: z.enum(VM_SORTS).default('name').meta({ description: 'lastBackup: the newest restore point (VMs without one last); ties by name' }),
  order: z.enum(['asc', 'desc']).default('asc'),
});

export const VmProtectionDto = z.object({
  status: z.enum(PROTECTIONS),
  platform: z.enum(SOURCE_PLATFORMS),
  points: nonNegInt,
  lastPoint: z.object({
    id: z.string(), pointId: z.string(), type: z.enum(BACKUP_TYPES), createdAt: iso, verificationStatus: z.enum(VERIFICATION_STATUSES),
    sizeBytes: nonNegInt, sourcePlatform: z.enum(SOURCE_PLATFORMS),
  }).nullable(),
  chainLength: nonNegInt.nullable(),
  lastJob: z.object({
    id: z.string(), status: z.enum(JOB_STATUSES), type: z.enum(BACKUP_TYPES), queuedAt: iso, finishedAt: iso.nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  }).nullable(),
  policy: z.object({ id: z.string(), name: z.string(), assignedBy: z.enum(ASSIGNMENT_KINDS) }).nullable(),
  nextRunAt: iso.nullable().meta({ description: 'the policy\'s next scheduled backup (null: no policy, or it is disabled)' }),
}).meta({ id: 'VmProtection' });

export const VmListItem = VmDto.extend({ protection: VmProtectionDto }).meta({ id: 'VmListItem' });

export const VmList = z.object({ items: z.array(VmListItem), total: nonNegInt, limit: nonNegInt, offset: nonNegInt }).meta({ id: 'VmListPage' });

export const OverviewDto = z.object({
  vms: z.object({ total: nonNegInt, protected: nonNegInt, unprotected: nonNegInt, failing: nonNegInt }),
  jobs24h: z.object({ total: nonNegInt, succeeded: nonNegInt, failed: nonNegInt, cancelled: nonNegInt, running: nonNegInt, since: iso }),
  trend: z.array(z.object({ day: z.string(), bytes: nonNegInt })).meta({ description: 'bytes written by succeeded backups per UTC day, the last 14 days (oldest first)' }),
}).meta({ id: 'Overview' });

export function protectionDto(
  p: VmProtection, view: View, policy: { id: string; name: string; assignedBy: AssignmentKind } | null, nextRunAt: Date | null,
): z.infer<typeof VmProtectionDto> {
  const { lastPoint: lp, lastJob: lj } = p;
  return {
    status: p.status, platform: p.platform, points: p.points, chainLength: p.chainLength,
    lastPoint: lp ? { id: lp.id, pointId: lp.pointId, type: lp.type, createdAt: lp.createdAt.toISOString(), verificationStatus: lp.verificationStatus, sizeBytes: lp.sizeBytes, sourcePlatform: lp.sourcePlatform } : null,
    lastJob: lj ? { id: lj.id, status: lj.status, type: lj.type, queuedAt: lj.queuedAt.toISOString(), finishedAt: lj.finishedAt?.toISOString() ?? null, error: errorFor(view, lj.errorCode, lj.error) } : null,
    policy, nextRunAt: nextRunAt?.toISOString() ?? null,
  };
}

export const VM_ROUTES: RouteDoc[] = [
  {
    method: 'get', path: '/api/v1/vms', summary: 'VMs the caller may see, each with its protection; searched, filtered, sorted and paged by the database',
    tag: 'vms', auth: 'user', query: VmListQuery, responses: { 200: VmList, 400: ErrorBody },
  },
  {
    method: 'get', path: '/api/v1/overview', summary: 'Exact figures of the VMs the caller may see: protected / unprotected / failing, backups of the last 24 h, bytes per day',
    tag: 'vms', auth: 'user', responses: { 200: OverviewDto },
  },
];
