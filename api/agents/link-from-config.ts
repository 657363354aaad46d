/**
 * @layer adapter
 * The SSH-link AgentGateway for `sendense serve`: a CloudStack host id is reached at the IP
 * discovery recorded for its agent (cloudstack_agents.host_ip), as the configured agent user,
 * with the configured key, the host key pinned from the configured known_hosts file.
 */
import os from 'node:os';
import path from 'node:path';
import type { Store } from '../../db/store.ts';
import type { Config } from '../config.ts';
import { createLinkGateway } from './link-gateway.ts';

export function linkGatewayFromConfig(config: Config, store: Store): ReturnType<typeof createLinkGateway> {
  const a = config.agents;
  const home = os.homedir();
  return createLinkGateway({
    access: async (hostId) => {
      const agent = await store.agents.getByHost(hostId);
      if (!agent?.hostIp) return undefined;
      return {
        host: agent.hostIp, port: a.port, username: a.user,
        identityFile: a.identityFile ?? path.join(home, '.ssh', 'id_ed25519'),
        knownHostsFile: a.knownHostsFile ?? path.join(home, '.ssh', 'known_hosts'),
        socketPath: a.socketPath,
        repoIdentity: a.repoIdentityFile, repoKnownHosts: a.repoKnownHostsFile,
      };
    },
  });
}
