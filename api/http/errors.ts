/**
 * @layer logic
 * The API's errors: `ApiError` (status, code, message) for what the HTTP layer itself refuses
 * (bad input, unknown route), and `toApiError` — the one mapping from every module's typed
 * error to a status and a stable code. Bodies are `{"error":{"code","message"}}`. An error
 * nobody typed becomes a 500 whose message says only that (details go to the log).
 */
import { AgentGatewayError } from '../agents/port.ts';
import { AuthError, VmNotFoundError } from '../auth/errors.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import { JobError } from '../jobs/errors.ts';
import { JobStateError } from '../jobs/state.ts';
import { RestoreError } from '../restore/errors.ts';
import { DecisionError } from '../policy/decide.ts';
import { ScheduleError } from '../policy/schedule.ts';
import { StoreError } from '../../db/store.ts';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const badRequest = (message: string) => new ApiError(400, 'bad_request', message);
export const notFound = (message: string) => new ApiError(404, 'not_found', message);

const strip = (m: string) => m.replace(/^\[[a-z-]+\] /, '');

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof AuthError) {
    switch (e.code) {
      case 'unauthenticated': return new ApiError(401, 'unauthenticated', strip(e.message), { 'www-authenticate': 'Bearer realm="sendense"' });
      case 'forbidden': return new ApiError(403, 'forbidden', strip(e.message));
      case 'rate_limited': return new ApiError(429, 'rate_limited', strip(e.message), { 'retry-after': String(Math.max(1, Math.ceil((e.retryAfterMs ?? 1000) / 1000))) });
      case 'unavailable': return new ApiError(503, 'cloudstack_unavailable', strip(e.message));
    }
  }
  if (e instanceof VmNotFoundError) return new ApiError(404, 'not_found', strip(e.message));
  if (e instanceof JobError) return new ApiError(e.code === 'notfound' ? 404 : e.code === 'conflict' ? 409 : 422, e.code === 'notfound' ? 'not_found' : e.code, strip(e.message));
  if (e instanceof JobStateError) return new ApiError(409, 'conflict', strip(e.message));
  if (e instanceof RestoreError) return new ApiError(e.code === 'notfound' ? 404 : e.code === 'conflict' ? 409 : 422, e.code === 'notfound' ? 'not_found' : e.code, strip(e.message));
  if (e instanceof DecisionError) return new ApiError(409, 'incremental_impossible', strip(e.message));
  if (e instanceof ScheduleError) return new ApiError(400, 'bad_request', strip(e.message));
  if (e instanceof StoreError) return new ApiError(e.code === 'notfound' ? 404 : e.code === 'conflict' ? 409 : 400, e.code === 'notfound' ? 'not_found' : e.code, strip(e.message));
  if (e instanceof AgentGatewayError) return new ApiError(502, `agent_${e.code}`, strip(e.message));
  if (e instanceof CloudStackError) {
    if (e.kind === 'notfound') return new ApiError(404, 'not_found', strip(e.message));
    if (e.kind === 'network' || e.kind === 'timeout') return new ApiError(503, 'cloudstack_unavailable', strip(e.message));
    return new ApiError(502, 'cloudstack_error', strip(e.message));
  }
  return new ApiError(500, 'internal', 'internal error (see the server log)', {}, { cause: e });
}

export function errorBody(e: ApiError): { error: { code: string; message: string } } {
  return { error: { code: e.code, message: e.message } };
}
