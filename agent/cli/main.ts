/**
 * @layer entry
 * `sendense-agent`: the command line of the agent that runs on every KVM host.
 * Each subcommand lives in its own file under agent/cli/ and is registered here.
 */
export const AGENT_USAGE = `sendense-agent — Sendense backup agent for KVM hosts

Usage:
  sendense-agent backup  --domain NAME --repo TARGET [--vm-id UUID] [--mode auto|full|incremental]
                         [--disks vda,vdb] [--quiesce] [--identity KEY] [--known-hosts FILE] [--json]
  sendense-agent restore --repo TARGET --vm-id UUID --disk vda [--point ID] --to PATH [--format qcow2|raw]
  sendense-agent verify  --repo TARGET --vm-id UUID [--point ID]
  sendense-agent list    --repo TARGET [--vm-id UUID] [--json]
  sendense-agent --help | --version

TARGET is a directory or ssh://user@host[:port]/path (key auth, host key pinned from known_hosts).
`;

export type Command = (argv: string[]) => Promise<number>;
const commands: Record<string, () => Promise<Command>> = {};

export function registerCommand(name: string, load: () => Promise<Command>): void {
  commands[name] = load;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  if (cmd === '--version') {
    process.stdout.write('0.1.0\n');
    return 0;
  }
  const load = commands[cmd];
  if (!load) {
    process.stderr.write(`sendense-agent: unknown command '${cmd}' (see --help)\n`);
    return 2;
  }
  return (await load())(rest);
}

registerCommand('backup', async () => (await import('./backup.ts')).backupCommand);
registerCommand('restore', async () => (await import('./restore.ts')).restoreCommand);
registerCommand('verify', async () => (await import('./verify.ts')).verifyCommand);
registerCommand('list', async () => (await import('./list.ts')).listCommand);
