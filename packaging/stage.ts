/**
 * @layer adapter
 * Lays out one package's files in a staging directory, the same tree for dpkg-deb and rpmbuild:
 *
 *   /usr/bin/<command>                      sh wrapper: exec <libDir>/node <libDir>/main.mjs "$@"
 *   <libDir>/node                           this machine's node binary, symbol table stripped (dynamic symbols kept for addons)
 *   <libDir>/<bundle>, main.mjs             the esbuild bundle and the launcher that runs its main()
 *   <libDir>/node_modules/…                 native/optional modules the bundle leaves outside
 *   <libDir>/migrations/                    (control plane) drizzle migrations, read beside the bundle
 *   /usr/share/sendense/plugin/             (control plane) the built CloudStack UI plug-in, when built
 *   <unitDir>/<unit>                        the systemd unit
 *   /etc/sendense/<config>                  the conffile
 *   /usr/share/doc/<name>/                  copyright, README.md, changelog.gz
 *
 * Every path gets mode 0755 (directories, executables) or 0644 and the mtime SOURCE_DATE_EPOCH,
 * so two builds of the same sources give the same file list and contents.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { copyRuntimeModules } from './runtime-modules.ts';
import { fillTemplate, type Format, type PackageSpec } from './spec.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
export const FILES = path.join(import.meta.dirname, 'files');

export interface StageInputs {
  /** the bundle built by packaging/bundle.ts */
  bundleFile: string;
  /** the node binary to ship (process.execPath) */
  nodeBinary: string;
  /** the plug-in's built files (plugin-ui/dist), control plane only, when built */
  pluginDir?: string;
  version: string;
  epoch: number;
}

export function unitDir(format: Format): string {
  return format === 'deb' ? '/lib/systemd/system' : '/usr/lib/systemd/system';
}

function put(root: string, p: string, content: string | Buffer, mode = 0o644): void {
  const f = path.join(root, p);
  mkdirSync(path.dirname(f), { recursive: true });
  writeFileSync(f, content);
  chmodSync(f, mode);
}

function launcher(spec: PackageSpec): string {
  return [
    `// ${spec.command}: runs the bundle's main() on the private node runtime (packaging/stage.ts)`,
    `import { main } from './${spec.bundle}';`,
    'const code = await main(process.argv.slice(2));',
    'process.exitCode = code;',
    "process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));",
    '',
  ].join('\n');
}

function wrapper(spec: PackageSpec): string {
  return `#!/bin/sh\n# ${spec.summary}: the private Node.js runtime in ${spec.libDir} runs it\nexec ${spec.libDir}/node ${spec.libDir}/main.mjs "$@"\n`;
}

/** Sets modes and mtimes so the tree is the same on every build. */
export function normalizeTree(dir: string, epoch: number): void {
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isDirectory()) {
      chmodSync(p, 0o755);
      for (const e of readdirSync(p)) walk(path.join(p, e));
    } else if (st.isFile()) {
      chmodSync(p, st.mode & 0o111 && !p.endsWith('.node') ? 0o755 : 0o644);
    }
    if (!st.isSymbolicLink()) utimesSync(p, epoch, epoch);
  };
  walk(dir);
}

export function stagePackage(spec: PackageSpec, format: Format, inputs: StageInputs, dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const lib = path.join(dir, spec.libDir);
  mkdirSync(lib, { recursive: true });

  const node = path.join(lib, 'node');
  copyFileSync(inputs.nodeBinary, node);
  chmodSync(node, 0o755);
  execFileSync('strip', ['--strip-unneeded', node]);
  copyFileSync(inputs.bundleFile, path.join(lib, spec.bundle));
  writeFileSync(path.join(lib, 'main.mjs'), launcher(spec));
  copyRuntimeModules(path.join(ROOT, 'node_modules'), spec.modules, lib);
  // native addons: symbols stripped (their dynamic symbols stay), mode 0644 like any shared object
  for (const f of findFiles(path.join(lib, 'node_modules'), (n) => n.endsWith('.node'))) execFileSync('strip', ['--strip-unneeded', f]);
  put(dir, `/usr/bin/${spec.command}`, wrapper(spec), 0o755);

  if (spec.name === 'sendense') {
    cpSync(path.join(ROOT, 'db', 'migrations'), path.join(lib, 'migrations'), { recursive: true });
    cpSync(path.join(ROOT, 'db', 'migrations-pg'), path.join(lib, 'migrations-pg'), { recursive: true });
    if (inputs.pluginDir) {
      cpSync(inputs.pluginDir, path.join(dir, 'usr/share/sendense/plugin'), {
        recursive: true,
        filter: (src) => !src.endsWith('.map'),
      });
    }
  }

  const unit = fillTemplate(readFileSync(path.join(FILES, spec.unit), 'utf8'), { WANTS: spec.wants[format] }, spec.unit);
  put(dir, `${unitDir(format)}/${spec.unit}`, unit);
  put(dir, spec.config.file, readFileSync(path.join(FILES, spec.config.template)));

  const doc = `/usr/share/doc/${spec.name}`;
  put(dir, `${doc}/copyright`, copyright());
  put(dir, `${doc}/README.md`, readFileSync(path.join(import.meta.dirname, 'README.md')));
  if (format === 'deb') put(dir, `${doc}/changelog.gz`, gzipSync(changelog(spec, inputs), { level: 9 }));

  normalizeTree(dir, inputs.epoch);
}

function copyright(): string {
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: Sendense',
    '',
    'Files: *',
    'Copyright: 2026 The Sendense developers',
    'License: Apache-2.0',
    ' On Debian systems the full text of the Apache License 2.0 is in',
    ' /usr/share/common-licenses/Apache-2.0.',
    '',
    'Files: usr/lib/sendense/*/node',
    'Copyright: 2009-2026 Node.js contributors and others',
    'License: Expat',
    ' The Node.js runtime (https://nodejs.org) and the libraries it bundles, under the MIT license',
    ' and the licenses listed in its LICENSE file.',
    '',
    'Files: usr/lib/sendense/*/node_modules/*',
    'Copyright: 2012-2026 their authors (see each module\'s LICENSE file)',
    'License: Expat or BSD-3-Clause or Unlicense',
    ' See each module\'s LICENSE file.',
    '',
  ].join('\n');
}

function changelog(spec: PackageSpec, inputs: StageInputs): string {
  const date = new Date(inputs.epoch * 1000).toUTCString().replace('GMT', '+0000');
  return `${spec.name} (${inputs.version}) unstable; urgency=medium\n\n  * Built from the Sendense sources (packaging/build.ts).\n\n -- Sendense developers <sendense@example.invalid>  ${date}\n`;
}

function findFiles(dir: string, match: (name: string) => boolean, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) findFiles(p, match, out);
    else if (e.isFile() && match(e.name)) out.push(p);
  }
  return out;
}

/** Size of a staged tree in KiB (for Installed-Size), directories not counted. */
export function treeKib(dir: string): number {
  let bytes = 0;
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(path.join(p, e));
    else bytes += st.size;
  };
  walk(dir);
  return Math.ceil(bytes / 1024);
}

/** Relative paths of every file and directory in a staged tree, sorted. */
export function treeList(dir: string): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = (p: string) => {
    for (const e of readdirSync(p).sort()) {
      const full = path.join(p, e);
      const rel = '/' + path.relative(dir, full);
      if (statSync(full).isDirectory()) { dirs.push(rel); walk(full); } else files.push(rel);
    }
  };
  walk(dir);
  return { files, dirs };
}
