/**
 * @layer entry
 * Agent deployment wired from the control plane's config (api/config.ts `agents`, `agents.deploy`):
 * the ssh2 host connector and the link probe pin host keys in `agents.knownHostsFile`, the link
 * key is `agents.identityFile` (its `.pub` goes to the hosts), the packages come from
 * `agents.deploy.packagesDir`, the repository host's key lines from `agents.deploy.repoKnownHostsFile`,
 * and each host's own repository key is let in through `agents.deploy.repository` when set.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CloudStackClient } from '../../cloudstack/client.ts';
import { createNodeFetch } from '../../cloudstack/node-fetch.ts';
import type { Config } from '../../config.ts';
import { readSecretFile } from '../../secret-file.ts';
import { DeployError } from './errors.ts';
import { HOST_PATHS, type DeployDeps, type DeploySettings } from './host-deploy.ts';
import { newKeyPair, packagesIn, publicKeyOf } from './keys.ts';
import { linkProbe } from './link-probe.ts';
import type { AdminCredentials } from './port.ts';
import { sshHostConnector } from './ssh-host.ts';
import { sshRepositoryKeys } from './ssh-repository-keys.ts';

export interface DeploymentWiring {
  deps: DeployDeps;
  settings: (credentials: AdminCredentials, acceptHostKeys?: Record<string, string>) => DeploySettings;
  cloudstack: CloudStackClient;
  concurrency: number;
}

export function deploymentFromConfig(config: Config, opts: { withPackages?: boolean } = {}): DeploymentWiring {
  const a = config.agents;
  const d = a.deploy ?? { packagesDir: '/var/lib/sendense/agent-packages', concurrency: 4 };
  const home = os.homedir();
  const identityFile = a.identityFile ?? path.join(home, '.ssh', 'id_ed25519');
  const knownHostsFile = a.knownHostsFile ?? path.join(home, '.ssh', 'known_hosts');
  const repo = d.repository;
  const deps: DeployDeps = {
    connector: sshHostConnector({ knownHostsFile }),
    probe: linkProbe({ user: a.user, identityFile, knownHostsFile, socketPath: a.socketPath }),
    ...(repo ? { repositoryKeys: sshRepositoryKeys({ ...repo }) } : {}),
    newKeyPair,
    packages: opts.withPackages === false ? {} : packagesIn(d.packagesDir),
  };
  if (a.repoIdentityFile && a.repoIdentityFile !== HOST_PATHS.repoIdentity) {
    throw new DeployError('failed', `[deploy] agents.repoIdentityFile is ${a.repoIdentityFile}, but deployment puts each host's repository key at ${HOST_PATHS.repoIdentity}: set it to that (and agents.repoKnownHostsFile to ${HOST_PATHS.repoKnownHosts})`);
  }
  const cs = config.cloudstack;
  const cloudstack = new CloudStackClient({
    endpoint: cs.endpoint, requestTimeoutMs: cs.timeoutSeconds * 1000,
    fetch: createNodeFetch({ ca: cs.caFile ? readFileSync(cs.caFile) : undefined, insecure: cs.insecure }),
    credentials: { apiKey: cs.apiKey, secretKey: cs.secretKey ?? readSecretFile(cs.secretKeyFile!, 'cloudstack.secretKeyFile') },
  });
  return {
    deps, cloudstack, concurrency: d.concurrency,
    settings: (credentials, acceptHostKeys) => {
      let repositoryKnownHosts = '';
      if (d.repoKnownHostsFile) {
        try { repositoryKnownHosts = readFileSync(d.repoKnownHostsFile, 'utf8'); } catch (e) {
          throw new DeployError('failed', `[deploy] cannot read agents.deploy.repoKnownHostsFile ${d.repoKnownHostsFile}: ${(e as Error).message}`, {}, { cause: e });
        }
      }
      return {
        credentials, acceptHostKeys, linkPublicKey: publicKeyOf(identityFile), repositoryKnownHosts,
        agentConfig: { socket: a.socketPath, socketOwner: a.user, journal: '/var/lib/sendense-agent/journal', workDir: '/var/lib/sendense-agent/jobs', concurrency: a.perHostConcurrency,
          repositories: config.repositories.map((r) => ({ url: r.url, identity: HOST_PATHS.repoIdentity, knownHosts: HOST_PATHS.repoKnownHosts })) },
      };
    },
  };
}
