/**
 * @layer entry
 * The API's one error handler and its unknown-route answer: every error becomes
 * `{"error":{"code","message"}}` with its status (api/http/errors.ts maps the typed errors);
 * a 5xx is logged with its stack, its details never sent; an agent's or CloudStack's own text
 * reaches root admins only.
 */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Principal } from '../auth/principal.ts';
import { ApiError, errorBody, forCaller, notFound, toApiError } from './errors.ts';

export function onError(log: (msg: string) => void): ErrorHandler {
  return function answerError(err, c: Context) {
    let e: ApiError;
    if (err instanceof HTTPException) e = new ApiError(err.status, err.status === 404 ? 'not_found' : 'bad_request', err.message || 'bad request');
    else e = toApiError(err);
    if (e.status >= 500) log(`[api] ${c.req.method} ${c.req.path}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    e = forCaller(e, (c.get('principal') as Principal | undefined)?.role === 'root-admin');
    for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
    return c.json(errorBody(e), e.status as 400);
  };
}

export const onNotFound: NotFoundHandler = (c) => c.json(errorBody(notFound(`no route ${c.req.method} ${c.req.path}`)), 404);
