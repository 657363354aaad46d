/**
 * @layer adapter
 * Copies the npm modules a bundle leaves outside (packaging/bundle.ts EXTERNAL_MODULES) into a
 * package's private node_modules: the named roots and everything they need at run time, following
 * `dependencies` and the `optionalDependencies` that are installed. What only builds native code
 * (nan, buildcheck, prebuild-install) and a module's sources, tests, examples and compiler output
 * stay out; of `build/` only `Release/*.node` is kept.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const BUILD_ONLY = new Set(['nan', 'buildcheck', 'prebuild-install', 'node-gyp']);
const SKIP_DIRS = new Set(['test', 'tests', 'examples', 'example', 'deps', 'src', 'docs', '.github', 'obj.target', '.deps', 'benchmark']);
const SKIP_FILES = /(\.d\.ts|\.ts|\.md|\.gyp|\.gypi|\.mk|\.o|\.a|\.cc|\.h|\.c|\.map|Makefile|\.eslintrc\.js|install\.js|buildcheck\.js|test_extension\.node)$/;

export class RuntimeModuleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`[packaging] [modules] ${message}`, options);
    this.name = 'RuntimeModuleError';
  }
}

interface PackageJson { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }

/** The module names roots need at run time, sorted (roots must be installed in nodeModules). */
export function runtimeClosure(nodeModules: string, roots: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (name: string, optional: boolean) => {
    if (seen.has(name) || BUILD_ONLY.has(name)) return;
    const pj = path.join(nodeModules, name, 'package.json');
    if (!existsSync(pj)) {
      if (optional) return;
      throw new RuntimeModuleError(`module '${name}' is not installed under ${nodeModules}: run npm install first`);
    }
    seen.add(name);
    const json = JSON.parse(readFileSync(pj, 'utf8')) as PackageJson;
    for (const d of Object.keys(json.dependencies ?? {})) visit(d, false);
    for (const d of Object.keys(json.optionalDependencies ?? {})) visit(d, true);
  };
  for (const r of roots) visit(r, false);
  return [...seen].sort();
}

function keep(rel: string, isDir: boolean): boolean {
  const parts = rel.split(path.sep);
  const i = parts.indexOf('build');
  if (i >= 0) {
    // build/, build/Release, build/Release/x.node only
    const rest = parts.slice(i + 1);
    if (rest.length === 0) return true;
    if (rest[0] !== 'Release') return false;
    if (rest.length === 1) return isDir;
    return rest.length === 2 && !isDir && rest[1].endsWith('.node') && !SKIP_FILES.test(rest[1]);
  }
  const base = parts[parts.length - 1];
  if (base.startsWith('.')) return false;
  if (isDir) return !SKIP_DIRS.has(base);
  return !SKIP_FILES.test(base) || /^LICEN[CS]E/i.test(base);
}

/** Copies the closure of roots from nodeModules into dest/node_modules; returns the module names. */
export function copyRuntimeModules(nodeModules: string, roots: readonly string[], dest: string): string[] {
  const names = runtimeClosure(nodeModules, roots);
  for (const name of names) {
    const from = path.join(nodeModules, name);
    const to = path.join(dest, 'node_modules', name);
    mkdirSync(to, { recursive: true });
    for (const e of readdirSync(from)) {
      cpSync(path.join(from, e), path.join(to, e), {
        recursive: true,
        dereference: true,
        filter: (src) => keep(path.relative(from, src), statSync(src).isDirectory()),
      });
    }
  }
  return names;
}
