/**
 * @layer entry
 * `npm run package` (tsx packaging/build.ts): builds the four packages into dist/packages/:
 * sendense-agent and sendense (the control plane) as .deb (dpkg-deb) and .rpm (rpmbuild). Each
 * ships a private Node.js runtime (packaging/README.md). The version comes from package.json
 * (SENDENSE_PACKAGE_VERSION overrides it, e.g. for an upgrade test), the file mtimes from
 * SOURCE_DATE_EPOCH or the last commit's time, so building twice gives the same file lists.
 *
 *   --out DIR             where the packages go (default dist/packages)
 *   --only NAME[,NAME]    sendense-agent and/or sendense (default both)
 *   --format deb|rpm[,…]  (default both)
 *
 * When package.json has a `build:plugin` script, it runs first and its output (plugin-ui/dist)
 * goes into the control plane package; when that script fails, so does the build.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleAgent, bundleControlPlane } from './bundle.ts';
import { buildDeb } from './deb.ts';
import { buildRpm } from './rpm.ts';
import { PACKAGES, type Format, type PackageName } from './spec.ts';
import { stagePackage } from './stage.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

export class PackageBuildError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`[packaging] ${message}`, options);
    this.name = 'PackageBuildError';
  }
}

export interface BuildOptions {
  outDir?: string;
  only?: PackageName[];
  formats?: Format[];
  version?: string;
  epoch?: number;
  /** bundles made beforehand (packaging/bundle.ts), used as they are instead of bundling again */
  bundles?: Partial<Record<PackageName, string>>;
  /** scratch space (staged trees, rpmbuild's tree), removed at the end; default beside outDir */
  workDir?: string;
  log?: (line: string) => void;
}

export interface BuiltPackage { name: PackageName; format: Format; file: string; bytes: number; sha256: string }

function sourceEpoch(): number {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  const r = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8' });
  const t = Number(r.stdout.trim());
  return r.status === 0 && Number.isInteger(t) && t > 0 ? t : 0;
}

function need(tool: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    throw new PackageBuildError(`'${tool}' is missing: install the Debian package ${pkg} (apt-get install --no-install-recommends ${pkg})`);
  }
}

function buildPlugin(log: (l: string) => void): string | undefined {
  const pj = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  if (!pj.scripts?.['build:plugin']) {
    log('no build:plugin script in package.json: the control plane package has no plug-in files');
    return undefined;
  }
  log('building the plug-in (npm run build:plugin)');
  const r = spawnSync('npm', ['run', '--silent', 'build:plugin'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new PackageBuildError(`npm run build:plugin failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().slice(-800)}`);
  const dir = path.join(ROOT, 'plugin-ui', 'dist');
  if (!existsSync(path.join(dir, 'index.html'))) throw new PackageBuildError(`npm run build:plugin made no ${dir}/index.html`);
  return dir;
}

export async function buildPackages(opts: BuildOptions = {}): Promise<BuiltPackage[]> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  need('dpkg-deb', 'dpkg');
  need('strip', 'binutils');
  const formats = opts.formats ?? ['deb', 'rpm'];
  if (formats.includes('rpm')) need('rpmbuild', 'rpm');
  const version = opts.version ?? process.env.SENDENSE_PACKAGE_VERSION
    ?? (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  if (!/^\d+\.\d+\.\d+([-+~][0-9A-Za-z.+~-]+)?$/.test(version)) throw new PackageBuildError(`version '${version}' is not x.y.z[-pre][+build]`);
  const epoch = opts.epoch ?? sourceEpoch();
  const outDir = opts.outDir ?? path.join(ROOT, 'dist', 'packages');
  const work = opts.workDir ?? path.join(path.dirname(outDir), `package-work-${process.pid}`);
  const specs = PACKAGES.filter((p) => !opts.only || opts.only.includes(p.name));

  try {
    const bundles: Partial<Record<PackageName, string>> = {};
    let pluginDir: string | undefined;
    for (const spec of specs) {
      const out = path.join(work, 'bundles', spec.bundle);
      bundles[spec.name] = opts.bundles?.[spec.name]
        ?? (spec.name === 'sendense-agent' ? await bundleAgent(out) : await bundleControlPlane(out));
      if (spec.name === 'sendense') pluginDir = buildPlugin(log);
    }

    const built: BuiltPackage[] = [];
    for (const spec of specs) {
      for (const format of formats) {
        const t0 = Date.now();
        const stageDir = path.join(work, `${spec.name}.${format}`);
        stagePackage(spec, format, { bundleFile: bundles[spec.name]!, nodeBinary: process.execPath, pluginDir, version, epoch }, stageDir);
        let file: string;
        try {
          file = format === 'deb'
            ? buildDeb(spec, stageDir, version, epoch, outDir)
            : buildRpm(spec, stageDir, version, epoch, outDir, path.join(work, `rpmbuild-${spec.name}`));
        } catch (e) {
          const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim().slice(-800);
          throw new PackageBuildError(`${format} of ${spec.name} failed${stderr ? `: ${stderr}` : ''}`, { cause: e });
        }
        const bytes = statSync(file).size;
        const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
        built.push({ name: spec.name, format, file, bytes, sha256 });
        log(`${path.relative(process.cwd(), file)}: ${(bytes / 2 ** 20).toFixed(1)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
    }
    return built;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, only: { type: 'string' }, format: { type: 'string' } } });
  try {
    const list = <T extends string>(s: string | undefined, allowed: readonly T[], what: string): T[] | undefined => {
      if (!s) return undefined;
      const xs = s.split(',');
      for (const x of xs) if (!allowed.includes(x as T)) throw new PackageBuildError(`--${what} '${x}': expected ${allowed.join(' or ')}`);
      return xs as T[];
    };
    const built = await buildPackages({
      outDir: values.out ? path.resolve(values.out) : undefined,
      only: list(values.only, ['sendense-agent', 'sendense'] as const, 'only'),
      formats: list(values.format, ['deb', 'rpm'] as const, 'format'),
    });
    for (const b of built) process.stdout.write(`${b.sha256}  ${path.relative(process.cwd(), b.file)}\n`);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
