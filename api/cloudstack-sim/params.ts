/**
 * @layer logic
 * Request parameters as CloudStack's ApiServlet sees them, and their validation.
 *
 * - Form fields come from the servlet's parameter map: the first value of a repeated name.
 * - Query parameters then override them (`utf8Fixup`): the query string is split on `&` and `=`
 *   and decoded with Java's URLDecoder (`+` is a space), the last occurrence winning; a pair
 *   without `=` is ignored.
 * - Validation follows ParamProcessWorker: a missing required parameter, a number that does not
 *   parse, an id of no entity (see lookups) are 431s worded like CloudStack's. Booleans are `Boolean.valueOf`:
 *   anything but "true" (any case) is false.
 */
import { apiErrors } from './api-error.ts';

/** java.net.URLDecoder.decode(s, "UTF-8"); throws on a malformed escape. */
export function javaUrlDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

export function parseQuery(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    out[javaUrlDecode(pair.slice(0, eq))] = javaUrlDecode(pair.slice(eq + 1));
  }
  return out;
}

export function parseForm(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of body.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const name = javaUrlDecode(eq < 0 ? pair : pair.slice(0, eq));
    if (!(name in out)) out[name] = eq < 0 ? '' : javaUrlDecode(pair.slice(eq + 1));
  }
  return out;
}

export type ParamType = 'string' | 'uuid' | 'boolean' | 'integer';

export interface ParamSpec {
  type: ParamType;
  required?: boolean;
}

export type ArgValue = string | number | boolean;
export type Args = Record<string, ArgValue | undefined>;

export function validateArgs(command: string, specs: Record<string, ParamSpec>, raw: Record<string, string>): Args {
  const out: Args = {};
  for (const [name, spec] of Object.entries(specs)) {
    const v = raw[name];
    if (v === undefined || (v === '' && spec.type !== 'string')) {
      if (spec.required) throw apiErrors.missingParameter(command, name);
      continue;
    }
    switch (spec.type) {
      case 'string': out[name] = v; break;
      case 'boolean': out[name] = v.toLowerCase() === 'true'; break;
      case 'integer': {
        if (!/^[+-]?\d+$/.test(v.trim()) || !Number.isSafeInteger(Number(v))) throw apiErrors.invalidValue(command, name, v);
        out[name] = Number(v);
        break;
      }
      case 'uuid': out[name] = v; break; // existence is checked where the entity is looked up

    }
  }
  return out;
}
