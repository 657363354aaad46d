/**
 * @layer logic
 * The link's errors. LinkError: reaching the agent failed — its code says how, and so whether the
 * agent counts as 'inactive' (unreachable, agent-down, closed, timeout: nothing answered) or in
 * 'error' (config, host-key, auth: something answered but is not what we trust or can use).
 * AgentApiError: the agent answered with an HTTP error `{"error":{"code","message"}}`.
 */
export type LinkErrorCode =
  | 'config' // identity or known_hosts file unusable
  | 'host-key' // the host is not pinned, or offered another key
  | 'auth' // the key was refused
  | 'unreachable' // TCP or SSH failed before the session was up
  | 'agent-down' // sshd could not connect to the agent's socket (not running, or not ours to open)
  | 'closed' // the SSH connection was closed or lost
  | 'timeout';

export class LinkError extends Error {
  override name = 'LinkError';
  constructor(readonly code: LinkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** true when the code means nothing answered (the agent is 'inactive', not in 'error') */
export function isUnreachable(code: LinkErrorCode): boolean {
  return code === 'unreachable' || code === 'agent-down' || code === 'closed' || code === 'timeout';
}

export class AgentApiError extends Error {
  override name = 'AgentApiError';
  constructor(readonly status: number, readonly code: string, message: string, readonly jobId?: string) {
    super(message);
  }
}
