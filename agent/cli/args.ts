/**
 * @layer logic
 * Command-line options for the agent's subcommands: node's parseArgs with strict checking, so a
 * mistyped option is an error that names it rather than something silently ignored.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parse<T extends ParseArgsConfig['options']>(argv: string[], options: T, required: string[] = []) {
  let r;
  try {
    r = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify.*$/s, ''));
  }
  for (const k of required) {
    if (r.values[k as keyof typeof r.values] === undefined) throw new UsageError(`--${k} is required`);
  }
  return r.values;
}

export function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new UsageError(`--${name} must be one of ${allowed.join(', ')} (got '${String(v)}')`);
}
