/**
 * @layer entry
 * Bundles the agent's command line into one ES module, dist/sendense-agent.mjs (esbuild): the
 * agent starts in a fraction of the time tsx needs to compile its sources on every run, and the
 * deb/rpm packages ship this one file plus the native modules (ssh2's optional crypto binding).
 * `agent/bin/sendense-agent.mjs` uses the bundle only while it is newer than every source file.
 * `bundleControlPlane` does the same for the control plane's command line (packages only).
 * Run by `npm install` (prepare), by the test lab's global setup and by packaging/build.ts.
 */
import { build } from 'esbuild';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

/** native or optional modules stay outside the bundles, loaded from node_modules at run time */
export const EXTERNAL_MODULES = ['ssh2', 'cpu-features', 'better-sqlite3', 'pg-native'];

async function bundle(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [path.join(ROOT, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    external: EXTERNAL_MODULES,
    banner: { js: "import { createRequire as __sendenseRequire } from 'node:module'; const require = __sendenseRequire(import.meta.url);" },
    logLevel: 'error',
    legalComments: 'none',
  });
  return outfile;
}

export async function bundleAgent(outfile = path.join(ROOT, 'dist', 'sendense-agent.mjs')): Promise<string> {
  return bundle(path.join('agent', 'cli', 'main.ts'), outfile);
}

export async function bundleControlPlane(outfile = path.join(ROOT, 'dist', 'sendense.mjs')): Promise<string> {
  return bundle(path.join('api', 'cli', 'main.ts'), outfile);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await bundleAgent();
  process.stdout.write(`bundled the agent into ${path.relative(process.cwd(), out)}\n`);
}
