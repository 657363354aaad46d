/**
 * @layer logic
 * The API's errors: `ApiError` (status, code, message) for what the HTTP layer itself refuses
 * (bad input, unknown route), and `toApiError` — the one mapping from every module's typed
 * error to a status and a stable code. Bodies are `{"error":{"code","message"}}`. An error
 * nobody typed becomes a 500 whose message says only that (details go to the log). An error whose
 * message is an agent's or CloudStack's own text is marked `raw`: only root admins read it
 * (`forCaller`); everybody else gets its code and a sentence.
 */
import { AgentGatewayError } from '../agents/port.ts';
import { AuthError, NotVisibleError, VmNotFoundError } from '../auth/errors.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import { JobError } from '../jobs/errors.ts';
import { JobStateError } from '../jobs/state.ts';
import { RestoreError } from '../restore/errors.ts';
import { DecisionError } from '../policy/decide.ts';
import { ScheduleError } from '../policy/schedule.ts';
import { StoreError } from '../../db/store.ts';

export class ApiError extends Error {
  override name = 'ApiError';
  /** the message is an agent's or CloudStack's own text (root admins only) */
  raw = false;
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** An ApiError carrying another system's text as its message. */
export function rawError(status: number, code: string, message: string, cause?: unknown): ApiError {
  const e = new ApiError(status, code, message, {}, { cause });
  e.raw = true;
  return e;
}

/** The sentence a tenant reads instead of an agent's or CloudStack's own error text. */
export function hiddenText(code: string): string {
  return code === 'cancelled' ? 'cancelled' : `failed (${code}): an administrator can see the details`;
}

/** The error as this caller may read it: a raw text only for root admins. */
export function forCaller(e: ApiError, rootAdmin: boolean): ApiError {
  if (!e.raw || rootAdmin) return e;
  return new ApiError(e.status, e.code, hiddenText(e.code), e.headers, { cause: e });
}

export const badRequest = (message: string) => new ApiError(400, 'bad_request', message);
export const notFound = (message: string) => new ApiError(404, 'not_found', message);

const strip = (m: string) => m.replace(/^\[[a-z-]+\] /, '');

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof NotVisibleError) return new ApiError(404, 'not_found', e.shown);
  if (e instanceof AuthError) {
    switch (e.code) {
      case 'unauthenticated': return new ApiError(401, (e as { reason?: string }).reason ?? 'unauthenticated', strip(e.message), { 'www-authenticate': 'Bearer realm="sendense"' }); // SignInError: token_expired, token_revoked …
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
  if (e instanceof StoreError) return new ApiError(e.code === 'notfound' ? 404 : e.code === 'conflict' ? 409 : e.code === 'unavailable' ? 503 : 400, e.code === 'notfound' ? 'not_found' : e.code, strip(e.message));
  if (e instanceof AgentGatewayError) return rawError(502, `agent_${e.code}`, strip(e.message), e);
  if (e instanceof CloudStackError) {
    if (e.kind === 'notfound') return rawError(404, 'not_found', strip(e.message), e);
    if (e.kind === 'network' || e.kind === 'timeout') return rawError(503, 'cloudstack_unavailable', strip(e.message), e);
    return rawError(502, 'cloudstack_error', strip(e.message), e);
  }
  return new ApiError(500, 'internal', 'internal error (see the server log)', {}, { cause: e });
}

export function errorBody(e: ApiError): { error: { code: string; message: string } } {
  return { error: { code: e.code, message: e.message } };
}
