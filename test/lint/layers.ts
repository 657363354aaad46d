/**
 * The layering lint (part of `npm test`). Every source file under agent/, api/, db/ and
 * plugin-ui/src declares its layer in its header comment with `@layer NAME`:
 *
 *   logic    pure decisions and formats: plain data in, plain data out; no I/O modules
 *            (it may use a port's constants and types: ports do no I/O either)
 *   port     interfaces (types) at a side effect, and in-memory adapters that honour them
 *   adapter  one technology behind a port (libvirt, NBD, ssh2, SQLite, fetch)
 *   usecase  orchestration that takes ports as parameters; never imports an adapter
 *   entry    CLIs, servers, composition roots: the only place adapters are wired to use cases
 *   testing  what only tests use: contract suites every adapter of a port runs, fakes
 *
 * Rules: logic and port import only logic and port; adapter imports no usecase or
 * entry; usecase imports no adapter or entry; no layer but entry imports an entry; nothing but
 * testing imports testing, and testing imports anything but entry (test/ helpers included).
 * Logic and port files import no I/O module (fs, net, child_process, http, ssh2, better-sqlite3, …);
 * only testing files import vitest.
 * A relative import of a source file that declares no layer — a file outside these trees, such
 * as test/lab/, or a test file — is a problem too (product code never leans on test code), except
 * the few listed in UNTAGGED_IMPORTS_ALLOWED with the reason.
 * Test files (*.test.ts, test/) are exempt.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DIRS = ['agent', 'api', 'db', 'plugin-ui/src'];
const LAYERS = ['logic', 'port', 'adapter', 'usecase', 'entry', 'testing'] as const;
type Layer = (typeof LAYERS)[number];

const ALLOWED: Record<Layer, Layer[]> = {
  logic: ['logic', 'port'],
  port: ['logic', 'port'],
  adapter: ['logic', 'port', 'adapter'],
  usecase: ['logic', 'port', 'usecase'],
  entry: ['logic', 'port', 'adapter', 'usecase', 'entry'],
  testing: ['logic', 'port', 'adapter', 'usecase', 'testing'],
};

/**
 * Imports of untagged files that are known and not yet fixed: `from` (a linted file) may import
 * `to` (relative to the repository root; a trailing '/' means anything below).
 */
export const UNTAGGED_IMPORTS_ALLOWED: { from: string; to: string; why: string }[] = [
  { from: 'api/cli/demo.ts', to: 'test/lab/', why: 'issue 13 step 6: what `sendense demo` needs of the lab becomes a product module' },
  { from: 'db/testing/stores.ts', to: 'test/lab/postgres.ts', why: "the store suite's fixture: a testing file, still tagged entry by its owner" },
];

function untaggedAllowed(from: string, to: string, layer: Layer): boolean {
  if (layer === 'testing' && to.startsWith(`test${path.sep}`)) return true;
  return UNTAGGED_IMPORTS_ALLOWED.some((a) => a.from === from && (a.to.endsWith('/') ? to.startsWith(a.to) : to === a.to));
}
const IO_MODULES = /^(node:)?(fs|fs\/promises|net|tls|http|https|http2|child_process|dgram|os|cluster|worker_threads|readline)$|^(ssh2|better-sqlite3|@hono\/node-server|pg)(\/|$)/;

function walk(dir: string, out: string[] = []): string[] {
  let entries: string[];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries) {
    if (e === 'node_modules' || e === 'dist' || e.startsWith('.')) continue;
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts)$/.test(e) && !/\.test\.ts$|\.d\.ts$/.test(e)) out.push(p);
  }
  return out;
}

function layerOf(src: string): Layer | undefined {
  const head = src.slice(0, 1500);
  const m = /@layer\s+(\w+)/.exec(head);
  return m && (LAYERS as readonly string[]).includes(m[1]) ? (m[1] as Layer) : undefined;
}

export function lint(root = ROOT): string[] {
  const problems: string[] = [];
  const files = DIRS.flatMap((d) => walk(path.join(root, d)));
  const layers = new Map<string, Layer | undefined>();
  for (const f of files) layers.set(f, layerOf(readFileSync(f, 'utf8')));
  for (const f of files) {
    const rel = path.relative(root, f);
    const layer = layers.get(f);
    if (!layer) { problems.push(`${rel}: no '@layer ${LAYERS.join('|')}' in the header comment`); continue; }
    const src = readFileSync(f, 'utf8');
    const importRe = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
    for (const m of src.matchAll(importRe)) {
      const typeOnly = Boolean(m[2]);
      const spec = m[3] ?? m[4];
      if (!spec) continue;
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(f), spec);
        const tl = layers.get(target);
        if (tl === undefined) {
          if (layers.has(target)) continue; // its own 'no @layer' problem is reported
          const to = path.relative(root, target);
          if (!/\.(ts|mts)$/.test(target) || /\.d\.ts$/.test(target)) continue; // json, css, declarations
          if (!untaggedAllowed(rel, to, layer)) problems.push(`${rel}: imports ${to}, which declares no @layer (a test helper or a file outside the linted trees): product code must not depend on it`);
          continue;
        }
        // type-only imports erase at build: a port's types anywhere, and the plug-in's API types from the routes (hc<AppType>)
        const routeTypes = typeOnly && rel.startsWith('plugin-ui/') && path.relative(root, target) === path.join('api', 'http', 'app.ts');
        if (tl && !ALLOWED[layer].includes(tl) && !(typeOnly && tl === 'port') && !routeTypes) {
          problems.push(`${rel}: ${layer} must not import ${tl} ${path.relative(root, target)}`);
        }
      } else if (/^vitest(\/|$)/.test(spec) && layer !== 'testing') {
        problems.push(`${rel}: ${layer} must not import the test runner '${spec}' (a contract suite or fake is '@layer testing')`);
      } else if ((layer === 'logic' || layer === 'port') && IO_MODULES.test(spec) && !typeOnly) {
        problems.push(`${rel}: ${layer} must not import the I/O module '${spec}'`);
      }
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = lint();
  if (problems.length) {
    console.error(`layering lint: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log('layering lint: ok');
}
