/**
 * The four packages built by `npm run package`'s code (packaging/build.ts), inspected with the
 * distributions' own tools: dpkg-deb -I/-c, lintian (only the tags listed in ACCEPTED_LINTIAN, each
 * with its reason), rpm -qpi/-qpl/-qpR/--scripts; built twice to show the build is reproducible;
 * the debs installed and purged in a chroot with no systemd running, and the rpm installed,
 * upgraded and erased in a scratch root (`rpm --root … -i`) so its scriptlets really run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../agent/system/run.ts';
import { nshostRootfs } from '../test/lab/nshost-rootfs.ts';
import { log } from '../test/lab/log.ts';
import { buildPackages, type BuiltPackage } from './build.ts';
import { bundleAgent } from './bundle.ts';

/**
 * lintian tags accepted, and why. Any other tag fails the test.
 */
export const ACCEPTED_LINTIAN: Record<string, string> = {
  // the pinned Node.js binary is upstream's build, shipped unchanged but for stripping
  'hardening-no-pie': 'upstream Node.js is linked without PIE; rebuilding Node is out of scope',
  'embedded-library': 'Node.js statically links zlib, OpenSSL, etc.: the reason to ship it is a self-contained runtime',
  'no-manual-page': 'the commands document themselves (--help) and docs/ADMIN.md; no man pages yet',
};

let tmp: string;
let built: BuiltPackage[];
const file = (name: string, format: 'deb' | 'rpm') => built.find((b) => b.name === name && b.format === format)!.file;
const text = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'sendense-pkgs-'));
  const t0 = Date.now();
  built = await buildPackages({ outDir: path.join(tmp, 'a'), log });
  log(`built ${built.length} packages in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}, 1_800_000);
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe('packages', () => {
  it('builds all four with versions from package.json', () => {
    const v = (JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as { version: string }).version;
    expect(built.map((b) => path.basename(b.file)).sort()).toEqual([
      `sendense-${v}-1.x86_64.rpm`, `sendense-agent-${v}-1.x86_64.rpm`, `sendense-agent_${v}_amd64.deb`, `sendense_${v}_amd64.deb`,
    ]);
  });

  it('is reproducible: the same sources build byte-identical packages', async () => {
    // the bundle is made once and the epoch fixed: other work in this checkout may change the
    // sources between two builds, and a commit the default SOURCE_DATE_EPOCH (the last commit's
    // time); what is tested here is that packaging adds no difference of its own
    const bundle = await bundleAgent(path.join(tmp, 'bundle', 'sendense-agent.mjs'));
    const epoch = 1_780_000_000;
    const one = await buildPackages({ outDir: path.join(tmp, 'r1'), only: ['sendense-agent'], bundles: { 'sendense-agent': bundle }, epoch, log });
    const two = await buildPackages({ outDir: path.join(tmp, 'r2'), only: ['sendense-agent'], bundles: { 'sendense-agent': bundle }, epoch, log });
    expect(one.map((b) => b.format)).toEqual(['deb', 'rpm']);
    for (const [i, b] of two.entries()) expect(b.sha256, `${b.format} of ${b.name}`).toBe(one[i].sha256);
    // and the file list is the same as the first build's (made with its own bundle)
    const list = (f: string) => text('dpkg-deb', ['-c', f]).split('\n').map((l) => l.split(/\s+/).slice(5).join(' ')).join('\n');
    expect(list(two[0].file)).toBe(list(file('sendense-agent', 'deb')));
  });

  it('agent .deb: control fields, conffile, dependencies, file list (dpkg-deb -I / -c)', () => {
    const deb = file('sendense-agent', 'deb');
    const info = text('dpkg-deb', ['-I', deb]);
    expect(info).toMatch(/Package: sendense-agent/);
    expect(info).toMatch(/Depends: libc6 \(>= 2\.28\), libstdc\+\+6 \(>= 6\), passwd, qemu-utils, libvirt-clients, openssh-client\n/);
    expect(text('dpkg-deb', ['-f', deb, 'Architecture']).trim()).toBe('amd64');
    expect(execFileSync('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb}' | tar -xO ./conffiles`], { encoding: 'utf8' })).toBe('/etc/sendense/agent.json\n');
    const list = text('dpkg-deb', ['-c', deb]).trim().split('\n');
    const paths = list.map((l) => l.split(/\s+/).slice(5).join(' ').replace(/^\./, ''));
    for (const p of ['/usr/bin/sendense-agent', '/usr/lib/sendense/agent/node', '/usr/lib/sendense/agent/main.mjs', '/usr/lib/sendense/agent/sendense-agent.mjs',
      '/usr/lib/sendense/agent/node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node', '/lib/systemd/system/sendense-agent.service',
      '/etc/sendense/agent.json', '/usr/share/doc/sendense-agent/copyright']) expect(paths).toContain(p);
    // root-owned, one mtime, nothing under /etc/libvirt, no sources or build leftovers
    expect(new Set(list.map((l) => l.split(/\s+/)[1]))).toEqual(new Set(['root/root']));
    expect(new Set(list.map((l) => `${l.split(/\s+/)[3]} ${l.split(/\s+/)[4]}`)).size).toBe(1);
    expect(paths.filter((p) => /\/etc\/libvirt|\.ts$|obj\.target|\/src\/|\.gyp$/.test(p))).toEqual([]);
  });

  it('control plane .deb: conffile, migrations, units', () => {
    const deb = file('sendense', 'deb');
    const paths = text('dpkg-deb', ['-c', deb]).split('\n').map((l) => l.split(/\s+/).slice(5).join(' ').replace(/^\./, ''));
    for (const p of ['/usr/bin/sendense', '/usr/lib/sendense/server/node', '/usr/lib/sendense/server/sendense.mjs',
      '/usr/lib/sendense/server/node_modules/better-sqlite3/build/Release/better_sqlite3.node', '/lib/systemd/system/sendense.service',
      '/etc/sendense/sendense.json']) expect(paths).toContain(p);
    expect(paths.some((p) => /\/usr\/lib\/sendense\/server\/migrations\/.*\.sql$/.test(p))).toBe(true);
    // the plug-in's built files come along whenever package.json can build them
    const scripts = (JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    if (scripts['build:plugin']) expect(paths).toContain('/usr/share/sendense/plugin/index.html');
    else expect(paths.filter((p) => p.startsWith('/usr/share/sendense/'))).toEqual([]);
    expect(text('dpkg-deb', ['-f', deb, 'Depends']).trim()).toBe('libc6 (>= 2.28), libstdc++6 (>= 6), passwd, openssh-client');
  });

  it('lintian: no tag but the accepted ones', async () => {
    const results = await Promise.all(['sendense-agent', 'sendense'].map((n) =>
      run('lintian', ['--tag-display-limit', '0', file(n, 'deb')], { okCodes: [1, 2], timeoutMs: 900_000 })));
    const tags = results.flatMap((r) => r.stdout.split('\n').filter((l) => /^[EWIP]: /.test(l)));
    log(`lintian:\n${tags.join('\n')}`);
    const unexpected = tags.filter((l) => !(/^[EWIP]: [^:]+: ([\w-]+)/.exec(l)![1] in ACCEPTED_LINTIAN));
    expect(unexpected).toEqual([]);
  });

  it('agent .rpm: rpm -qpi / -qpl / -qpR / -qpc / --scripts', () => {
    const rpm = file('sendense-agent', 'rpm');
    const info = text('rpm', ['-qpi', rpm]);
    expect(info).toMatch(/Name\s*: sendense-agent/);
    expect(info).toMatch(/Build Host\s*: sendense-build/);
    const requires = [...new Set(text('rpm', ['-qpR', rpm]).split('\n').map((s) => s.trim()).filter((s) => s && !s.startsWith('rpmlib(')))];
    expect(requires.sort()).toEqual(['/bin/sh', 'glibc >= 2.28', 'libstdc++', 'libvirt-client', 'openssh-clients', 'qemu-img', 'shadow-utils'].sort());
    expect(text('rpm', ['-qpc', rpm]).trim()).toBe('/etc/sendense/agent.json');
    const files = text('rpm', ['-qpl', rpm]).trim().split('\n');
    for (const p of ['/usr/bin/sendense-agent', '/usr/lib/sendense/agent/node', '/usr/lib/systemd/system/sendense-agent.service', '/etc/sendense/agent.json']) expect(files).toContain(p);
    expect(files.filter((p) => p.startsWith('/etc/libvirt'))).toEqual([]);
    const scripts = text('rpm', ['-qp', '--scripts', rpm]);
    for (const s of ['preinstall', 'postinstall', 'preuninstall', 'postuninstall']) expect(scripts).toContain(`${s} scriptlet`);
    expect(text('rpm', ['-qp', '--qf', '[%{FILEFLAGS:fflags} %{FILENAMES}\n]', rpm])).toMatch(/cn \/etc\/sendense\/agent\.json/);
  });
});

describe('installing without a running systemd', () => {
  let root: string;
  beforeAll(async () => {
    const tarball = await nshostRootfs();
    root = mkdtempSync(path.join('/var/tmp', 'sendense-chroot-'));
    await run('tar', ['-xf', tarball, '-C', root]);
  }, 1_800_000);
  afterAll(() => { if (root) rmSync(root, { recursive: true, force: true }); });
  const inRoot = (args: string[], okCodes: number[] = []) => run('chroot', [root, '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'DEBIAN_FRONTEND=noninteractive', ...args], { okCodes, timeoutMs: 300_000 });

  it('the debs install, run, and purge in a chroot (units enabled, nothing started)', async () => {
    for (const n of ['sendense-agent', 'sendense'] as const) writeFileSync(path.join(root, `${n}.deb`), readFileSync(file(n, 'deb')));
    await inRoot(['dpkg', '-i', '/sendense-agent.deb', '/sendense.deb']);
    expect((await inRoot(['getent', 'passwd', 'sendense'])).stdout).toMatch(/^sendense:x:\d+:\d+:Sendense:\/var\/lib\/sendense:\/usr\/sbin\/nologin/);
    // the agent is enabled (started at the next boot); the control plane waits for its config
    expect((await inRoot(['readlink', '/etc/systemd/system/multi-user.target.wants/sendense-agent.service'])).stdout.trim()).toBe('/lib/systemd/system/sendense-agent.service');
    expect((await inRoot(['test', '-e', '/etc/systemd/system/multi-user.target.wants/sendense.service'], [1])).code).toBe(1);
    expect((await inRoot(['stat', '-c', '%U:%G %a', '/etc/sendense/token-secret'])).stdout.trim()).toBe('root:sendense 640');
    expect((await inRoot(['stat', '-c', '%U %a', '/var/lib/sendense/.ssh'])).stdout.trim()).toBe('sendense 700');
    // the private runtimes run in a root with no Node.js: the agent's CLI, the control plane's SQLite addon
    expect((await inRoot(['sendense-agent', '--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await inRoot(['sendense', '--help'])).stdout).toMatch(/sendense serve/);
    expect((await inRoot(['/usr/lib/sendense/server/node', '-e', "const D=require('/usr/lib/sendense/server/node_modules/better-sqlite3'); console.log(new D(':memory:').prepare('select 1 as x').get().x)"])).stdout.trim()).toBe('1');
    const bad = await inRoot(['sendense-agent', 'serve', '--config', '/etc/sendense/nope.json'], [2]);
    expect(bad.stderr).toMatch(/--config: cannot read \/etc\/sendense\/nope\.json/);

    await inRoot(['dpkg', '--purge', 'sendense', 'sendense-agent']);
    for (const p of ['/etc/sendense', '/var/lib/sendense', '/var/lib/sendense-agent', '/usr/lib/sendense', '/etc/systemd/system/multi-user.target.wants/sendense-agent.service']) {
      expect((await inRoot(['test', '-e', p], [1])).code, p).toBe(1);
    }
    expect((await inRoot(['getent', 'passwd', 'sendense'], [2])).code).toBe(2);
  });

  it('the agent rpm installs, upgrades and erases in a scratch root (rpm --root … -i): scriptlets and file list', async () => {
    const rpm = file('sendense-agent', 'rpm');
    const v2dir = path.join(tmp, 'rpm2');
    const v = (JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../package.json'), 'utf8')) as { version: string }).version;
    const [v2] = await buildPackages({ outDir: v2dir, only: ['sendense-agent'], formats: ['rpm'], version: `${v}+upgrade1`, log });
    const rpmIn = (args: string[]) => run('rpm', ['--root', root, ...args], { timeoutMs: 300_000 });
    await rpmIn(['--initdb']);
    // --nodeps: the scratch root is Debian's, its packages are not in the rpm database
    await rpmIn(['-i', '--nodeps', rpm]);
    const files = (await rpmIn(['-ql', 'sendense-agent'])).stdout.trim().split('\n');
    expect(files).toContain('/usr/lib/systemd/system/sendense-agent.service');
    expect((await inRoot(['getent', 'passwd', 'sendense'])).stdout).toMatch(/^sendense:/);
    expect((await inRoot(['test', '-d', '/var/lib/sendense-agent'])).code).toBe(0);
    // systemctl in this Debian root resolves the unit through /lib (merged /usr); on EL it is /usr/lib
    expect((await inRoot(['readlink', '/etc/systemd/system/multi-user.target.wants/sendense-agent.service'])).stdout.trim()).toMatch(/^(\/usr)?\/lib\/systemd\/system\/sendense-agent\.service$/);
    expect((await rpmIn(['-V', '--nodeps', 'sendense-agent'])).stdout.trim()).toBe('');

    // an edited %config(noreplace) survives the upgrade; state stays
    const cfg = path.join(root, 'etc/sendense/agent.json');
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('"concurrency": 2', '"concurrency": 4'));
    writeFileSync(path.join(root, 'var/lib/sendense-agent/marker'), 'kept\n');
    await rpmIn(['-U', '--nodeps', v2.file]);
    expect((await rpmIn(['-q', '--qf', '%{VERSION}', 'sendense-agent'])).stdout).toBe(`${v}^upgrade1`);
    expect(readFileSync(cfg, 'utf8')).toMatch(/"concurrency": 4/);
    expect(readFileSync(path.join(root, 'var/lib/sendense-agent/marker'), 'utf8')).toBe('kept\n');

    await rpmIn(['-e', '--nodeps', 'sendense-agent']);
    expect((await inRoot(['test', '-e', '/usr/lib/sendense/agent/node'], [1])).code).toBe(1);
    expect((await inRoot(['test', '-e', '/etc/systemd/system/multi-user.target.wants/sendense-agent.service'], [1])).code).toBe(1);
    // rpm has no purge: the state stays, the edited config is kept as .rpmsave
    expect(readFileSync(path.join(root, 'var/lib/sendense-agent/marker'), 'utf8')).toBe('kept\n');
    expect(readFileSync(`${cfg}.rpmsave`, 'utf8')).toMatch(/"concurrency": 4/);
  });
});
