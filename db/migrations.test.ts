/**
 * The committed migrations are what drizzle-kit generates from db/schema.ts: a schema change
 * without its migration fails here (run `npx drizzle-kit generate --config db/drizzle.config.ts`).
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { run } from '../agent/system/run.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'sendense-migrations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('db/migrations matches db/schema.ts', async () => {
  cpSync(path.join(ROOT, 'db/migrations'), path.join(dir, 'm'), { recursive: true });
  const before = readdirSync(path.join(dir, 'm')).sort();
  // drizzle-kit wants relative paths
  const r = await run(path.join(ROOT, 'node_modules/.bin/drizzle-kit'), [
    'generate', '--dialect', 'sqlite', '--schema', path.relative(dir, path.join(ROOT, 'db/schema.ts')), '--out', 'm',
  ], { cwd: dir, timeoutMs: 120_000 });
  expect(r.stdout).toMatch(/No schema changes/);
  expect(readdirSync(path.join(dir, 'm')).sort()).toEqual(before);
});
