#!/usr/bin/env node
// sendense: the control plane (API server, demo, CloudStack tools). Loads TypeScript through tsx.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
