/**
 * @layer entry
 * `sendense`: the control plane's command line (server, demo, CloudStack tools).
 * Each subcommand lives in its own file under api/cli/ and is registered here.
 */
export const USAGE = `sendense — Sendense control plane for Apache CloudStack KVM backups

Usage:
  sendense serve [--config FILE]                 run the API server
  sendense demo                                  run the demo on embedded defaults
  sendense cs COMMAND key=value … [--endpoint URL] [--api-key K] [--secret-key S]
  sendense cloudstack-sim --port P [--state FILE]
  sendense --help | --version
`;

export type Command = (argv: string[]) => Promise<number>;
const commands: Record<string, () => Promise<Command>> = {};

export function registerCommand(name: string, load: () => Promise<Command>): void {
  commands[name] = load;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd === '--version') {
    process.stdout.write('0.1.0\n');
    return 0;
  }
  const load = commands[cmd];
  if (!load) {
    process.stderr.write(`sendense: unknown command '${cmd}' (see --help)\n`);
    return 2;
  }
  return (await load())(rest);
}

registerCommand('demo', async () => (await import('./demo.ts')).demoCommand);

registerCommand('cs', async () => (await import('./cs.ts')).csCommand);
registerCommand('cloudstack-sim', async () => (await import('./cloudstack-sim.ts')).cloudstackSimCommand);
