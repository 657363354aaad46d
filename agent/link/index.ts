/**
 * @layer adapter
 * The control plane's side of the agent daemon, in one import: connect over SSH to
 * the daemon's unix socket (host key pinned), a reconnecting link, the typed client, following a
 * job's event stream, and the heartbeat. The wire types come from agent/daemon/job.ts and
 * agent/engine/requests.ts.
 */
export { connectAgent, DEFAULT_AGENT_SOCKET, type AgentLink, type AgentLinkOptions } from './connect.ts';
export { agentLink, type ReconnectingAgentLink } from './reconnect.ts';
export { agentClient, agentJson, AGENT_ORIGIN, type AgentClient } from './client.ts';
export { followJob, jobEvents } from './follow.ts';
export { checkAgent, type AgentStatus, type AgentStatusValue } from './heartbeat.ts';
export { AgentApiError, LinkError, isUnreachable, type LinkErrorCode } from './errors.ts';
export { streamFetch, type LinkFetch, type OpenStream } from './stream-fetch.ts';
export type { JobEvent, JobKind, JobProgress, JobRecord, JobState } from '../daemon/job.ts';
export type { BackupBody, BackupInput, BackupOutcome, RestoreBody, RestoreInput, RestoreOutcome, VerifyBody, VerifyInput, VerifyOutcome } from '../engine/requests.ts';
export type { Capabilities, DomainView, Health } from '../daemon/service.ts';
export type { AgentAppType } from '../daemon/routes.ts';
