#!/usr/bin/env node
// sendense-agent: the KVM host agent. Runs the bundle (dist/sendense-agent.mjs, made by
// `npm install` or packaging/bundle.ts) while it is newer than every source file; otherwise the
// TypeScript sources through tsx, so a stale bundle never runs.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const bundle = path.join(root, 'dist', 'sendense-agent.mjs');

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let mod;
if (!process.env.SENDENSE_NO_BUNDLE && existsSync(bundle) && statSync(bundle).mtimeMs >= newestSource(path.join(root, 'agent'))) {
  mod = await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  mod = await import('../cli/main.ts');
}
const code = await mod.main(process.argv.slice(2));
// exit as soon as the answer is out: an idle SSH connection or timer must not keep a finished
// command waiting (long-running commands such as serve only resolve when they are done)
process.exitCode = code;
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
