/**
 * @layer logic
 * Agent deployment's API shapes (zod): the run request (hosts or addresses, SSH credentials,
 * accepted host-key fingerprints, concurrency, purge/downgrade, drain timeout) and the OpenAPI
 * entries of `POST /api/v1/agents/deploy|upgrade|remove|status` and the run's status and events
 * (api/http/openapi.ts lists them with the others; api/http/routes/deploy.ts serves them).
 */
import { z } from 'zod';
import type { RouteDoc } from './openapi.ts';
import { ErrorBody } from './schemas.ts';

export const DeployRunBody = z.object({
  hosts: z.array(z.string().min(1).max(200)).max(1000).optional(),
  addresses: z.array(z.string().min(1).max(300)).max(1000).optional(),
  zoneId: z.string().min(1).optional(),
  clusterId: z.string().min(1).optional(),
  includeUnavailable: z.boolean().optional(),
  ssh: z.object({ user: z.string().min(1).max(64).default('root'), identityFile: z.string().min(1).optional(), password: z.string().min(1).optional() })
    .strict().refine((s) => s.identityFile !== undefined || s.password !== undefined, 'give ssh.identityFile (a key file on the control plane) or ssh.password'),
  acceptHostKeys: z.record(z.string(), z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a fingerprint is SHA256:… as ssh-keygen -lf prints it')).optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  purge: z.boolean().optional(),
  downgrade: z.boolean().optional(),
  drainTimeoutSeconds: z.number().int().min(0).max(86_400).optional(),
}).strict();

export const DeployIdParam = z.object({ id: z.string().min(1).max(100) });

const DeployRun = z.object({
  id: z.string(), operation: z.string(), by: z.string(), startedAt: z.string(), finishedAt: z.string().nullable(),
  state: z.enum(['running', 'done']), skipped: z.array(z.unknown()),
  hosts: z.array(z.object({ host: z.string(), step: z.string(), fraction: z.number(), message: z.string().nullable() })),
  rows: z.array(z.unknown()).nullable(),
});

const start = (op: string, summary: string): RouteDoc => ({
  method: 'post', path: `/api/v1/agents/${op}`, summary, tag: 'infrastructure', auth: 'admin', body: DeployRunBody,
  responses: { 202: DeployRun, 400: ErrorBody, 503: ErrorBody },
});

export const DEPLOY_ROUTES: RouteDoc[] = [
  start('deploy', 'Install and start the agent on KVM hosts over SSH (host keys pinned); 202 with the run (root admin)'),
  start('upgrade', 'Rolling upgrade of deployed agents, one cluster at a time, waiting for running jobs (root admin)'),
  start('remove', 'Remove the agent from hosts (purge: its data and repository key too) (root admin)'),
  start('status', 'What each host runs: package version, service state, health (root admin)'),
  { method: 'get', path: '/api/v1/agents/deployments/{id}', summary: 'One deployment run: a line per host, the rows once done (root admin)', tag: 'infrastructure', auth: 'admin', params: DeployIdParam, responses: { 200: DeployRun, 404: ErrorBody } },
  { method: 'get', path: '/api/v1/agents/deployments/{id}/events', summary: 'Server-sent events of a run: `host` progress, `row` per host, `done` (replayed from the start) (root admin)', tag: 'infrastructure', auth: 'admin', params: DeployIdParam, responses: { 200: 'sse', 404: ErrorBody } },
];
