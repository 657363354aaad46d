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
 *
 * Rules: logic and port import only logic and port; adapter imports no usecase or
 * entry; usecase imports no adapter or entry; no layer but entry imports an entry. Logic and
 * port files import no I/O module (fs, net, child_process, http, ssh2, better-sqlite3, …).
 * Test files (*.test.ts, test/) are exempt.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DIRS = ['agent', 'api', 'db', 'plugin-ui/src'];
const LAYERS = ['logic', 'port', 'adapter', 'usecase', 'entry'] as const;
type Layer = (typeof LAYERS)[number];

const ALLOWED: Record<Layer, Layer[]> = {
  logic: ['logic', 'port'],
  port: ['logic', 'port'],
  adapter: ['logic', 'port', 'adapter'],
  usecase: ['logic', 'port', 'usecase'],
  entry: ['logic', 'port', 'adapter', 'usecase', 'entry'],
};
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
          if (!layers.has(target)) continue; // not a linted file (json, test helpers)
        }
        // type-only imports erase at build: a port's types anywhere, and the plug-in's API types from the routes (hc<AppType>)
        const routeTypes = typeOnly && rel.startsWith('plugin-ui/') && path.relative(root, target) === path.join('api', 'http', 'app.ts');
        if (tl && !ALLOWED[layer].includes(tl) && !(typeOnly && tl === 'port') && !routeTypes) {
          problems.push(`${rel}: ${layer} must not import ${tl} ${path.relative(root, target)}`);
        }
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
