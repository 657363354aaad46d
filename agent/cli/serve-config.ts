/**
 * @layer logic
 * The agent daemon's config file, /etc/sendense/agent.json in the packages (packaging/files/):
 * the same settings as `sendense-agent serve`'s options. Options and SENDENSE_AGENT_* variables
 * win over the file; the file wins over the built-in defaults. Unknown keys are errors, so a
 * mistyped setting is named rather than silently ignored.
 */
import { z } from 'zod';
import { UsageError } from './args.ts';

export const AgentConfigFile = z.object({
  socket: z.string().startsWith('/', 'must be an absolute path').optional(),
  socketOwner: z.string().min(1).optional(),
  journal: z.string().startsWith('/', 'must be an absolute path').optional(),
  workDir: z.string().startsWith('/', 'must be an absolute path').optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
}).strict();
export type AgentConfigFile = z.infer<typeof AgentConfigFile>;

export function parseAgentConfig(text: string, file: string): AgentConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${file}: not JSON (${(e as Error).message}); fix the file or start without --config`);
  }
  const r = AgentConfigFile.safeParse(json);
  if (!r.success) {
    const what = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new UsageError(`${file}: ${what} (settings: socket, socketOwner, journal, workDir, concurrency)`);
  }
  return r.data;
}
