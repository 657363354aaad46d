/**
 * @layer logic
 * The agent's version, in one place: `sendense-agent --version`, the daemon's health, and the
 * `agent.version` every point manifest records.
 */
export const AGENT_VERSION = '0.1.0';
