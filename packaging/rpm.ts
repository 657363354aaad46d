/**
 * @layer adapter
 * Wraps a staged tree (packaging/stage.ts) into an .rpm with `rpmbuild -bb` from a generated spec:
 * the prebuilt files are copied in unchanged (no debug package, no strip, no build-id links, no
 * automatic requires), the conffile is `%config(noreplace)`, and SOURCE_DATE_EPOCH fixes the build
 * time and clamps mtimes so a rebuild gives the same file list and contents.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fillTemplate, rpmVersion, type PackageSpec } from './spec.ts';
import { scriptValues } from './deb.ts';
import { treeList } from './stage.ts';

const SCRIPTS = path.join(import.meta.dirname, 'scripts');

export function rpmArch(arch = process.arch): string {
  const a = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[arch];
  if (!a) throw new Error(`[packaging] [rpm] no rpm architecture for node's '${arch}'`);
  return a;
}

/** The %files section: the private runtime directory whole, every other file by name. */
export function filesSection(spec: PackageSpec, stageDir: string): string {
  const { files } = treeList(stageDir);
  const lines = ['%defattr(-,root,root,-)', '%dir /usr/lib/sendense', spec.libDir, '%dir /etc/sendense'];
  const docDir = `/usr/share/doc/${spec.name}`;
  lines.push(docDir);
  if (files.some((f) => f.startsWith('/usr/share/sendense/'))) lines.push('%dir /usr/share/sendense', '/usr/share/sendense/plugin');
  for (const f of files) {
    if (f.startsWith(spec.libDir + '/') || f.startsWith(docDir + '/') || f.startsWith('/usr/share/sendense/')) continue;
    lines.push(f === spec.config.file ? `%config(noreplace) ${f}` : f);
  }
  return lines.join('\n');
}

export function buildRpm(spec: PackageSpec, stageDir: string, version: string, epoch: number, outDir: string, workDir: string): string {
  const { version: v, release } = rpmVersion(version);
  rmSync(workDir, { recursive: true, force: true });
  for (const d of ['BUILD', 'RPMS', 'SOURCES', 'SPECS', 'SRPMS', 'BUILDROOT']) mkdirSync(path.join(workDir, d), { recursive: true });
  const scripts = fillTemplate(readFileSync(path.join(SCRIPTS, 'rpm-scripts'), 'utf8'), scriptValues(spec), 'rpm-scripts');
  const spectext = [
    '%global debug_package %{nil}',
    '%global __os_install_post %{nil}',
    '%global _build_id_links none',
    '%global _binary_payload w6.gzdio',
    '%global _buildhost sendense-build',
    '%global use_source_date_epoch_as_buildtime 1',
    '%global clamp_mtime_to_source_date_epoch 1',
    '%global source_date_epoch_from_changelog 0',
    `Name: ${spec.name}`,
    `Version: ${v}`,
    `Release: ${release}`,
    `Summary: ${spec.summary}`,
    'License: Apache-2.0',
    'URL: https://sendense.example.invalid/',
    `BuildArch: ${rpmArch()}`,
    'AutoReqProv: no',
    `Requires: ${spec.depends.rpm.join(', ')}`,
    'Requires(pre): shadow-utils',
    '',
    '%description',
    spec.description,
    '',
    '%install',
    `cp -a ${stageDir}/. %{buildroot}/`,
    '',
    scripts,
    '',
    '%files',
    filesSection(spec, stageDir),
    '',
  ].join('\n');
  const specFile = path.join(workDir, 'SPECS', `${spec.name}.spec`);
  writeFileSync(specFile, spectext);
  execFileSync('rpmbuild', ['-bb', '--define', `_topdir ${workDir}`, '--target', rpmArch(), specFile], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const dir = path.join(workDir, 'RPMS', rpmArch());
  const built = readdirSync(dir).find((f) => f.endsWith('.rpm'));
  if (!built) throw new Error(`[packaging] [rpm] rpmbuild made no package in ${dir}`);
  mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, built);
  copyFileSync(path.join(dir, built), out);
  return out;
}
