/**
 * @layer entry
 * Subcommand dispatch shared by both command lines (`sendense`, `sendense-agent`): --help,
 * --version, lazily loaded subcommands, an unknown command named with exit 2.
 */
export type Command = (argv: string[]) => Promise<number>;

export interface Dispatcher {
  register(name: string, load: () => Promise<Command>): void;
  main(argv: string[]): Promise<number>;
}

export function createDispatcher(program: string, usage: string, version: string): Dispatcher {
  const commands: Record<string, () => Promise<Command>> = {};
  return {
    register(name, load) {
      commands[name] = load;
    },
    async main(argv) {
      const [cmd, ...rest] = argv;
      if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
        process.stdout.write(usage);
        return 0;
      }
      if (cmd === '--version') {
        process.stdout.write(`${version}\n`);
        return 0;
      }
      const load = commands[cmd];
      if (!load) {
        process.stderr.write(`${program}: unknown command '${cmd}' (see --help)\n`);
        return 2;
      }
      return (await load())(rest);
    },
  };
}
