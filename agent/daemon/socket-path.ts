/**
 * @layer logic
 * Where the agent daemon listens, in one place: the packages' unit (packaging/files/agent.json),
 * `sendense-agent serve`'s default, the control plane's `agents.socketPath` default and the link's.
 */
export const AGENT_SOCKET = '/run/sendense/agent.sock';
