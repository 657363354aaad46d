/**
 * @layer entry
 * Bundles the agent's command line into one ES module, dist/sendense-agent.mjs (esbuild): the
 * agent starts in a fraction of the time tsx needs to compile its sources on every run, and the
 * deb/rpm packages ship this one file plus the native modules (ssh2's optional crypto binding).
 * `agent/bin/sendense-agent.mjs` uses the bundle only while it is newer than every source file.
 * Run by `npm install` (prepare) and by the test lab's global setup.
 */
import { build } from 'esbuild';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

export async function bundleAgent(outfile = path.join(ROOT, 'dist', 'sendense-agent.mjs')): Promise<string> {
  await build({
    entryPoints: [path.join(ROOT, 'agent', 'cli', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    // native or optional modules stay outside, loaded from node_modules at run time
    external: ['ssh2', 'cpu-features', 'better-sqlite3'],
    banner: { js: "import { createRequire as __sendenseRequire } from 'node:module'; const require = __sendenseRequire(import.meta.url);" },
    logLevel: 'error',
    legalComments: 'none',
  });
  return outfile;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await bundleAgent();
  process.stdout.write(`bundled the agent into ${path.relative(process.cwd(), out)}\n`);
}
