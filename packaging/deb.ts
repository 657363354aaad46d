/**
 * @layer adapter
 * Wraps a staged tree (packaging/stage.ts) into a .deb with `dpkg-deb --root-owner-group`: the
 * control file, conffiles, md5sums and the maintainer scripts filled from packaging/scripts/.
 * gzip rather than xz: xz takes minutes over the node binary for a few MiB less.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { debVersion, fillTemplate, type PackageSpec } from './spec.ts';
import { normalizeTree, treeKib, treeList } from './stage.ts';

const SCRIPTS = path.join(import.meta.dirname, 'scripts');

export function debArch(arch = process.arch): string {
  const a = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[arch];
  if (!a) throw new Error(`[packaging] [deb] no Debian architecture for node's '${arch}'`);
  return a;
}

export function scriptValues(spec: PackageSpec): Record<string, string> {
  return { ...spec.scripts, PACKAGE: spec.name, UNIT: spec.unit };
}

export function buildDeb(spec: PackageSpec, stageDir: string, version: string, epoch: number, outDir: string): string {
  const { files } = treeList(stageDir);
  const installedKib = treeKib(stageDir);
  const ctl = path.join(stageDir, 'DEBIAN');
  mkdirSync(ctl, { recursive: true });
  const control = [
    `Package: ${spec.name}`,
    `Version: ${debVersion(version)}`,
    `Architecture: ${debArch()}`,
    'Maintainer: Sendense developers <sendense@example.invalid>',
    `Installed-Size: ${installedKib}`,
    `Depends: ${spec.depends.deb.join(', ')}`,
    'Section: admin',
    'Priority: optional',
    'Homepage: https://sendense.example.invalid/',
    `Description: ${spec.summary}`,
    ...spec.description.split('\n').map((l) => ` ${l}`),
    '',
  ].join('\n');
  writeFileSync(path.join(ctl, 'control'), control);
  writeFileSync(path.join(ctl, 'conffiles'), `${spec.config.file}\n`);
  const sums = files.map((f) => `${createHash('md5').update(readFileSync(path.join(stageDir, f))).digest('hex')}  ${f.slice(1)}`);
  writeFileSync(path.join(ctl, 'md5sums'), sums.join('\n') + '\n');
  for (const s of ['postinst', 'prerm', 'postrm']) {
    const text = fillTemplate(readFileSync(path.join(SCRIPTS, `deb-${s}`), 'utf8'), scriptValues(spec), `deb-${s}`);
    writeFileSync(path.join(ctl, s), text);
    chmodSync(path.join(ctl, s), 0o755);
  }
  normalizeTree(ctl, epoch);
  mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, `${spec.name}_${debVersion(version)}_${debArch()}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', stageDir, out], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return out;
}
