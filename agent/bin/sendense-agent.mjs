#!/usr/bin/env node
// sendense-agent: the KVM host agent. Loads the TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli/main.ts');
const code = await main(process.argv.slice(2));
// exit as soon as the answer is out: an idle SSH connection or timer must not keep a finished
// command waiting (long-running commands such as serve only resolve when they are done)
process.exitCode = code;
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
