/**
 * @layer entry
 * zod at the HTTP boundary: `zJson`, `zQuery`, `zParam` validate a request's body, query or path
 * parameters and hands the parsed value to the route (`c.req.valid(target)`, typed from the
 * schema). Anything invalid is a 400 naming each field and what is wrong with it; a body that is
 * not JSON is refused as such (415 for another media type, 400 for malformed JSON).
 */
import type { Env, MiddlewareHandler } from 'hono';
import { validator } from 'hono/validator';
import type { z } from 'zod';
import { ApiError, badRequest } from './errors.ts';

export function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

function check<S extends z.ZodType>(schema: S, what: string, value: unknown): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest(`invalid ${what}: ${issuesText(r.error)}`);
  return r.data;
}

/** What a client sends for a query or path schema: strings, optional where the schema allows leaving them out. */
type AsStrings<T, V> = { [K in keyof T as undefined extends T[K] ? never : K]: V } & { [K in keyof T as undefined extends T[K] ? K : never]?: V };

type Validated<Target extends string, In, Out> = MiddlewareHandler<Env, string, { in: { [K in Target]: In }; out: { [K in Target]: Out } }>;

/**
 * Validates the JSON body. Hono parses an application/json body (malformed JSON: 400); any
 * other body is refused (415), and no body at all is `{}` (so all-optional bodies may be left out).
 */
export function zJson<S extends z.ZodType>(schema: S): Validated<'json', z.input<S>, z.output<S>> {
  return validator('json', async (value, c): Promise<z.output<S>> => {
    const type = (c.req.header('content-type') ?? '').split(';')[0].trim();
    if (JSON_TYPE.test(type)) return check(schema, 'body', value);
    if ((await c.req.text()).trim() !== '') throw new ApiError(415, 'unsupported_media_type', `send the body as application/json (got ${type || 'no content-type'})`);
    return check(schema, 'body', {});
  }) as unknown as Validated<'json', z.input<S>, z.output<S>>;
}

export function zQuery<S extends z.ZodType>(schema: S): Validated<'query', AsStrings<z.input<S>, string | string[]>, z.output<S>> {
  return validator('query', (value): z.output<S> => check(schema, 'query', value)) as unknown as Validated<'query', AsStrings<z.input<S>, string | string[]>, z.output<S>>;
}

export function zParam<S extends z.ZodType>(schema: S): Validated<'param', AsStrings<z.input<S>, string>, z.output<S>> {
  return validator('param', (value): z.output<S> => check(schema, 'path', value)) as unknown as Validated<'param', AsStrings<z.input<S>, string>, z.output<S>>;
}
