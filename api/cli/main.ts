/**
 * @layer entry
 * `sendense`: the control plane's command line (server, demo, CloudStack tools).
 * Each subcommand lives in its own file under api/cli/ and is registered here.
 */
import { createDispatcher } from '../../agent/cli/dispatch.ts';

export const USAGE = `sendense — Sendense control plane for Apache CloudStack KVM backups

Usage:
  sendense serve [--config FILE]                 run the API server
  sendense db migrate|status|copy …              the database (SQLite or PostgreSQL): see sendense db --help
  sendense demo                                  run the demo on embedded defaults
  sendense agents deploy|upgrade|remove|status …  the agent on the KVM hosts: see sendense agents --help
  sendense cs COMMAND key=value … [--endpoint URL] [--api-key K] [--secret-key S]
  sendense cloudstack-sim --port P [--state FILE]
  sendense import vmware PATH --repo TARGET [--vm-id UUID] [--mode auto|full] [--json]   an .ova/.ovf/.vmx export as a restore point
  sendense restore vmware --repo DIR --vm-id UUID --endpoint URL --api-key K --secret-key S [--apply] …   plan (dry run) / restore as a new CloudStack VM
  sendense --help | --version
`;

const cli = createDispatcher('sendense', USAGE, '0.1.0');
export const registerCommand = cli.register;
export const main = cli.main;
export type { Command } from '../../agent/cli/dispatch.ts';

registerCommand('demo', async () => (await import('./demo.ts')).demoCommand);
registerCommand('serve', async () => (await import('./serve.ts')).serveCommand);
registerCommand('db', async () => (await import('./db.ts')).dbCommand);
registerCommand('agents', async () => (await import('./agents.ts')).agentsCommand);

registerCommand('cs', async () => (await import('./cs.ts')).csCommand);
registerCommand('cloudstack-sim', async () => (await import('./cloudstack-sim.ts')).cloudstackSimCommand);
registerCommand('import', async () => (await import('./import.ts')).importCommand);
registerCommand('restore', async () => (await import('./restore-vmware.ts')).restoreCommand);
