/**
 * Prints the folder-level import graph of one source tree (default `agent`): one line per
 * `from -> to (n)` edge between sibling folders (a file's folder is its first path segment under
 * the tree), counting relative imports of every non-test source file, then any folder cycles.
 *
 *   npx tsx test/lint/folder-graph.ts [agent|api|db] [--include-tests]
 *
 * Used to record the graph before and after a restructuring; `cycles(...)` is also what the
 * layering lint's folder-cycle rule calls.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

function walk(dir: string, withTests: boolean, out: string[] = []): string[] {
  let entries: string[];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries) {
    if (e === 'node_modules' || e === 'dist' || e.startsWith('.')) continue;
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) walk(p, withTests, out);
    else if (/\.(ts|mts)$/.test(e) && !/\.d\.ts$/.test(e) && (withTests || !/\.test\.ts$/.test(e))) out.push(p);
  }
  return out;
}

/** Edges `from -> to` with how many imports make each, for the folders directly under `tree`. */
export function folderEdges(tree: string, withTests = false, root = ROOT): Map<string, number> {
  const base = path.join(root, tree);
  const edges = new Map<string, number>();
  const folderOf = (file: string): string | undefined => {
    const rel = path.relative(base, file);
    if (rel.startsWith('..')) return undefined;
    const parts = rel.split(path.sep);
    return parts.length > 1 ? parts[0] : '.';
  };
  const importRe = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const f of walk(base, withTests)) {
    const from = folderOf(f);
    for (const m of readFileSync(f, 'utf8').matchAll(importRe)) {
      const spec = m[1] ?? m[2];
      if (!spec?.startsWith('.')) continue;
      const to = folderOf(path.resolve(path.dirname(f), spec));
      if (!from || !to || from === to) continue;
      const key = `${from} -> ${to}`;
      edges.set(key, (edges.get(key) ?? 0) + 1);
    }
  }
  return edges;
}

/** Every elementary folder cycle, each once, as `a -> b -> a`. */
export function cycles(edges: Map<string, number>): string[] {
  const next = new Map<string, string[]>();
  for (const key of edges.keys()) {
    const [from, to] = key.split(' -> ');
    next.set(from, [...(next.get(from) ?? []), to]);
  }
  const found = new Set<string>();
  const visit = (start: string, node: string, trail: string[]): void => {
    for (const to of next.get(node) ?? []) {
      if (to === start) {
        const min = trail.reduce((a, b) => (a < b ? a : b));
        const i = trail.indexOf(min);
        found.add([...trail.slice(i), ...trail.slice(0, i), min].join(' -> '));
      } else if (!trail.includes(to) && to > start) visit(start, to, [...trail, to]);
    }
  };
  for (const start of next.keys()) visit(start, start, [start]);
  return [...found].sort();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const tree = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 'agent';
  const edges = folderEdges(tree, process.argv.includes('--include-tests'));
  for (const key of [...edges.keys()].sort()) console.log(`${key} (${edges.get(key)})`);
  const loops = cycles(edges);
  console.log(loops.length ? `cycles:\n  ${loops.join('\n  ')}` : 'cycles: none');
}
