/**
 * @layer entry
 * `sendense-agent`: the command line of the agent that runs on every KVM host.
 * Each subcommand lives in its own file under agent/cli/ and is registered here.
 */
import { AGENT_VERSION } from '../version.ts';
import { createDispatcher } from './dispatch.ts';

export const AGENT_USAGE = `sendense-agent — Sendense backup agent for KVM hosts

Usage:
  sendense-agent backup  --domain NAME --repo TARGET [--vm-id UUID] [--mode auto|full|incremental]
                         [--disks vda,vdb] [--quiesce] [--identity KEY] [--known-hosts FILE] [--json]
  sendense-agent restore --repo TARGET --vm-id UUID --disk vda [--point ID] [--format qcow2|raw]
                         (--to PATH | --in-place VOLUME | --upload-url URL [--header K:V]…)
  sendense-agent verify  --repo TARGET --vm-id UUID [--point ID]
  sendense-agent list    --repo TARGET [--vm-id UUID] [--json]
  sendense-agent prune   --repo TARGET --vm-id UUID --remove ID[,ID…] [--json]   merges forward what remains
  sendense-agent scan    --repo TARGET [--vm-id UUID] [--json]   metadata, points, bytes used, problems
  sendense-agent serve   [--socket PATH] [--journal DIR]   the daemon the control plane reaches over SSH
  sendense-agent --help | --version

TARGET is a directory or ssh://user@host[:port]/path (key auth, host key pinned from known_hosts).
`;

const cli = createDispatcher('sendense-agent', AGENT_USAGE, AGENT_VERSION);
export const registerCommand = cli.register;
export const main = cli.main;
export type { Command } from './dispatch.ts';

registerCommand('backup', async () => (await import('./backup.ts')).backupCommand);
registerCommand('restore', async () => (await import('./restore.ts')).restoreCommand);
registerCommand('verify', async () => (await import('./verify.ts')).verifyCommand);
registerCommand('list', async () => (await import('./list.ts')).listCommand);
registerCommand('prune', async () => (await import('./prune.ts')).pruneCommand);
registerCommand('scan', async () => (await import('./scan.ts')).scanCommand);
registerCommand('serve', async () => (await import('./serve.ts')).serveCommand);
