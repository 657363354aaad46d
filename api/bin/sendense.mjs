#!/usr/bin/env node
// sendense: the control plane (API server, demo, CloudStack tools). Loads TypeScript through tsx.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli/main.ts');
const code = await main(process.argv.slice(2));
// exit as soon as the answer is out: an idle SSH connection or timer must not keep a finished
// command waiting (long-running commands such as serve only resolve when they are done)
process.exitCode = code;
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
