/**
 * @layer logic
 * The agent daemon's config file, /etc/sendense/agent.json in the packages (packaging/files/):
 * the same settings as `sendense-agent serve`'s options. Options and SENDENSE_AGENT_* variables
 * win over the file; the file wins over the built-in defaults. Unknown keys are errors, so a
 * mistyped setting is named rather than silently ignored.
 *
 * `allow` is the daemon's policy (agent/daemon/policy.ts): the repositories it may use (with
 * their identity and known_hosts files), other SSH files a request may name, the folder restores
 * to a file land in, extra folders of volumes for in-place restores. Only the file sets it — no
 * option or variable, so a caller cannot widen it. Without it nothing is allowed but restores
 * below the default restore root and volumes below CloudStack's pool mounts.
 */
import { z } from 'zod';
import { UsageError } from './args.ts';
import { checkPolicy, DEFAULT_RESTORE_ROOT, type DaemonPolicy } from '../daemon/policy.ts';

const Abs = z.string().startsWith('/', 'must be an absolute path');

export const AgentConfigFile = z.object({
  socket: z.string().startsWith('/', 'must be an absolute path').optional(),
  socketOwner: z.string().min(1).optional(),
  journal: z.string().startsWith('/', 'must be an absolute path').optional(),
  workDir: z.string().startsWith('/', 'must be an absolute path').optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  allow: z.object({
    repositories: z.array(z.union([
      z.string().min(1).transform((url) => ({ url })),
      z.object({ url: z.string().min(1), identity: Abs.optional(), knownHosts: Abs.optional() }).strict(),
    ])).default([]),
    sshFiles: z.array(Abs).default([]),
    restoreRoot: Abs.default(DEFAULT_RESTORE_ROOT),
    volumeRoots: z.array(Abs).default([]),
    unknownVolumes: z.boolean().default(false),
  }).strict().optional(),
}).strict();
export type AgentConfigFile = z.output<typeof AgentConfigFile>;

/** The daemon's policy from the file's `allow` (absent: the defaults above). */
export function policyOf(f: AgentConfigFile, file = 'the agent config'): DaemonPolicy {
  const p: DaemonPolicy = f.allow ?? { repositories: [], sshFiles: [], restoreRoot: DEFAULT_RESTORE_ROOT, volumeRoots: [], unknownVolumes: false };
  try {
    checkPolicy(p);
  } catch (e) {
    throw new UsageError(`${file}: ${(e as Error).message}`);
  }
  return p;
}

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
    throw new UsageError(`${file}: ${what} (settings: socket, socketOwner, journal, workDir, concurrency, allow.{repositories, sshFiles, restoreRoot, volumeRoots, unknownVolumes})`);
  }
  return r.data;
}
