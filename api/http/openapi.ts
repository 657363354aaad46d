/**
 * @layer logic
 * The OpenAPI 3.0 document of the REST API, generated from the zod schemas the routes validate
 * with (api/http/schemas.ts) by zod's own z.toJSONSchema. `ROUTES` lists every route once; a
 * test checks it against the routes the Hono app really has, so the document cannot drift.
 */
import { z } from 'zod';
import {
  AgentDto, AssignmentBody, AssignmentDto, AssignmentParam, AuditDto, AuditQuery, BackupBody, DiscoveryReportDto, ErrorBody, Health, HealthDetail, HostDto,
  IdParam, JobDto, JobList, JobListQuery, LoginBody, LoginResponse, Me, PageQuery, PolicyCreateBody, PolicyDto, PolicyList, PolicyUpdateBody,
  RepositoryDto, RestorePointList, VmDetailDto,
} from './schemas.ts';
import { VM_ROUTES } from './vm-schemas.ts';
import { RevokeBody, SsoBody } from './auth-schemas.ts';
import { RESTORE_ROUTES } from './restore-schemas.ts';
import { MAINTENANCE_ROUTES } from '../retention/schemas.ts';
import { VMWARE_ROUTES } from '../vmware/schemas.ts';
import { DEPLOY_ROUTES } from './deploy-schemas.ts';

type Auth = 'none' | 'user' | 'admin';

export interface RouteDoc {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** OpenAPI form: /api/v1/vms/{id} */
  path: string;
  summary: string;
  tag: string;
  auth: Auth;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** status → schema; null: no body; 'sse' / 'text' / 'binary': not JSON */
  responses: Record<number, z.ZodType | null | 'sse' | 'text' | 'binary'>;
}

const items = <T extends z.ZodType>(t: T) => z.object({ items: z.array(t) });

export const ROUTES: RouteDoc[] = [
  { method: 'get', path: '/healthz', summary: 'Liveness and readiness: ok, or degraded (503); why is GET /api/v1/health', tag: 'system', auth: 'none', responses: { 200: Health, 503: Health } },
  { method: 'get', path: '/api/v1/health', summary: 'Health with its reasons: database, discovery, job counts, version (root admin)', tag: 'system', auth: 'admin', responses: { 200: HealthDetail } },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics (text format 0.0.4)', tag: 'system', auth: 'none', responses: { 200: 'text' } },
  { method: 'get', path: '/api/openapi.json', summary: 'This document', tag: 'system', auth: 'none', responses: { 200: null } },
  { method: 'post', path: '/api/v1/auth/login', summary: 'Sign in with CloudStack credentials (checked by CloudStack\'s login); rate-limited per client and username', tag: 'auth', auth: 'none', body: LoginBody, responses: { 200: LoginResponse, 401: ErrorBody, 429: ErrorBody, 503: ErrorBody } },
  { method: 'get', path: '/api/v1/auth/me', summary: 'Who the token or API key stands for', tag: 'auth', auth: 'user', responses: { 200: Me } },
  { method: 'post', path: '/api/v1/auth/sso', summary: 'Single sign-on behind a same-origin proxy: CloudStack\'s JSESSIONID cookie + sessionkey (cookie, X-CloudStack-Sessionkey header or body), checked with CloudStack → a short-lived token', tag: 'auth', auth: 'none', body: SsoBody, responses: { 200: LoginResponse, 401: ErrorBody, 429: ErrorBody, 503: ErrorBody } },
  { method: 'post', path: '/api/v1/auth/logout', summary: 'Sign out: the token ends now', tag: 'auth', auth: 'user', responses: { 204: null } },
  { method: 'post', path: '/api/v1/auth/revoke', summary: 'End every token of a user now (root admin)', tag: 'auth', auth: 'admin', body: RevokeBody, responses: { 204: null } },
  ...VM_ROUTES,
  { method: 'post', path: '/api/v1/discovery', summary: 'Run discovery from CloudStack now (root admin)', tag: 'vms', auth: 'admin', responses: { 200: DiscoveryReportDto } },
  { method: 'get', path: '/api/v1/vms/{id}', summary: 'One VM with its disks, policy and last job (somebody else\'s VM is a 404, as a missing one)', tag: 'vms', auth: 'user', params: IdParam, responses: { 200: VmDetailDto, 404: ErrorBody } },
  { method: 'post', path: '/api/v1/vms/{id}/backups', summary: 'Back the VM up now (CloudStack takeBackup); 202 with the queued job', tag: 'vms', auth: 'user', params: IdParam, body: BackupBody, responses: { 202: JobDto, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody } },
  { method: 'get', path: '/api/v1/vms/{id}/restore-points', summary: 'The VM\'s restore points, newest first (CloudStack listRestorePoints)', tag: 'vms', auth: 'user', params: IdParam, query: PageQuery, responses: { 200: RestorePointList } },
  { method: 'get', path: '/api/v1/jobs', summary: 'Backup jobs of the VMs the caller may see, newest first', tag: 'jobs', auth: 'user', query: JobListQuery, responses: { 200: JobList } },
  { method: 'get', path: '/api/v1/jobs/{id}', summary: 'One job', tag: 'jobs', auth: 'user', params: IdParam, responses: { 200: JobDto, 404: ErrorBody } },
  { method: 'get', path: '/api/v1/jobs/{id}/events', summary: 'Server-sent events: `job` (the job at every change, progress included) until it ends, then `end`', tag: 'jobs', auth: 'user', params: IdParam, responses: { 200: 'sse' } },
  { method: 'post', path: '/api/v1/jobs/{id}/cancel', summary: 'Cancel a queued or running job; 202 with the job (cancelling or cancelled)', tag: 'jobs', auth: 'user', params: IdParam, responses: { 202: JobDto, 409: ErrorBody } },
  { method: 'get', path: '/api/v1/policies', summary: 'Backup policies with their assignments and next run', tag: 'policies', auth: 'user', responses: { 200: PolicyList } },
  { method: 'post', path: '/api/v1/policies', summary: 'Create a policy (root admin)', tag: 'policies', auth: 'admin', body: PolicyCreateBody, responses: { 201: PolicyDto } },
  { method: 'get', path: '/api/v1/policies/{id}', summary: 'One policy', tag: 'policies', auth: 'user', params: IdParam, responses: { 200: PolicyDto } },
  { method: 'patch', path: '/api/v1/policies/{id}', summary: 'Change a policy (root admin)', tag: 'policies', auth: 'admin', params: IdParam, body: PolicyUpdateBody, responses: { 200: PolicyDto } },
  { method: 'delete', path: '/api/v1/policies/{id}', summary: 'Delete a policy and its assignments (root admin)', tag: 'policies', auth: 'admin', params: IdParam, responses: { 204: null } },
  { method: 'post', path: '/api/v1/policies/{id}/assignments', summary: 'Assign the policy to a VM (its owner), an account (its domain admin), a zone or a tag (root admin)', tag: 'policies', auth: 'user', params: IdParam, body: AssignmentBody, responses: { 201: AssignmentDto } },
  { method: 'delete', path: '/api/v1/policies/{id}/assignments/{assignmentId}', summary: 'Remove an assignment', tag: 'policies', auth: 'user', params: AssignmentParam, responses: { 204: null } },
  { method: 'get', path: '/api/v1/hosts', summary: 'KVM hosts with their agent and load (root admin)', tag: 'infrastructure', auth: 'admin', responses: { 200: items(HostDto) } },
  { method: 'get', path: '/api/v1/agents', summary: 'Agents: status, heartbeat, version, capabilities (root admin)', tag: 'infrastructure', auth: 'admin', responses: { 200: items(AgentDto) } },
  { method: 'get', path: '/api/v1/repositories', summary: 'Repositories with their usage by source platform (CloudStack syncBackupMetrics) (root admin)', tag: 'infrastructure', auth: 'admin', responses: { 200: items(RepositoryDto) } },
  { method: 'get', path: '/api/v1/audit', summary: 'The audit log, newest first (root admin)', tag: 'infrastructure', auth: 'admin', query: AuditQuery, responses: { 200: items(AuditDto) } },
  ...RESTORE_ROUTES,
  ...MAINTENANCE_ROUTES,
  ...VMWARE_ROUTES,
  ...DEPLOY_ROUTES,
];

const schemaOf = (s: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(s, { target: 'openapi-3.0', io, unrepresentable: 'any' });

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No content', 401: 'Not signed in', 403: 'Not allowed', 404: 'Not found', 409: 'Conflict', 429: 'Too many attempts', 503: 'CloudStack or the database unavailable' };

export function buildOpenApi(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const parameters: unknown[] = [];
    for (const [where, obj] of [['path', r.params], ['query', r.query]] as const) {
      if (!obj) continue;
      const js = schemaOf(obj, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(js.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (js.required ?? []).includes(name), schema });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, s] of Object.entries(r.responses)) {
      const description = STATUS_TEXT[Number(status)] ?? 'Answer';
      if (s === null) responses[status] = { description };
      else if (s === 'sse') responses[status] = { description, content: { 'text/event-stream': { schema: { type: 'string' } } } };
      else if (s === 'text') responses[status] = { description, content: { 'text/plain': { schema: { type: 'string' } } } };
      else if (s === 'binary') responses[status] = { description, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } };
      else responses[status] = { description, content: { 'application/json': { schema: schemaOf(s, 'output') } } };
    }
    if (r.auth !== 'none') {
      responses['401'] ??= { description: STATUS_TEXT[401], content: { 'application/json': { schema: schemaOf(ErrorBody, 'output') } } };
      if (r.auth === 'admin') responses['403'] ??= { description: 'Root admins only', content: { 'application/json': { schema: schemaOf(ErrorBody, 'output') } } };
    }
    if (r.params || r.query || r.body) responses['400'] = { description: 'Invalid input: the message names each field', content: { 'application/json': { schema: schemaOf(ErrorBody, 'output') } } };
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary, tags: [r.tag], ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(r.body, 'input') } } } } : {}),
      ...(r.auth === 'none' ? { security: [] } : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Sendense control plane', version,
      description: 'Backups of Apache CloudStack KVM VMs. Sign in with CloudStack credentials (POST /api/v1/auth/login → Bearer token), '
        + 'or sign each request with your CloudStack API key in CloudStack\'s scheme (signatureVersion=3, expires; the signed command is "<METHOD> <path>", a body is bound by contentsha256). '
        + 'What you may see and do follows CloudStack: root admins everything, domain admins their domain, users their account.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'a token from POST /api/v1/auth/login' },
        cloudstackApiKey: { type: 'apiKey', in: 'query', name: 'apiKey', description: 'CloudStack API key; with signatureVersion=3, expires and signature' },
      },
    },
    security: [{ bearer: [] }, { cloudstackApiKey: [] }],
    paths,
  };
}
