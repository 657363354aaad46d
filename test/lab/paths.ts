/**
 * Where the host lab keeps its state. Everything the lab creates is named with the run's id
 * (`sdlab-<pid>-…`) so a later run can tell its own leftovers from a live run's resources.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export const LAB_ROOT = process.env.SENDENSE_LAB_DIR ?? '/var/tmp/sendense-lab';
export const LAB_PREFIX = 'sdlab-';

/** The id of the test run that owns what this process creates: the vitest main process pid. */
export function runId(): string {
  const id = process.env.SENDENSE_LAB_RUN ?? String(process.pid);
  process.env.SENDENSE_LAB_RUN = id;
  return id;
}

export function labDir(...parts: string[]): string {
  const p = path.join(LAB_ROOT, ...parts);
  mkdirSync(p, { recursive: true, mode: 0o755 });
  return p;
}

let seq = 0;
/** A name unique to this run and process: sdlab-<run>-<label>-<pid>x<n>. */
export function labName(label: string): string {
  seq += 1;
  return `${LAB_PREFIX}${runId()}-${label}-${process.pid.toString(36)}x${seq}`;
}

/** The run id encoded in a lab name, or undefined when the name is not the lab's. */
export function ownerOf(name: string): string | undefined {
  const m = /^sdlab-(\d+)-/.exec(name);
  return m?.[1];
}
