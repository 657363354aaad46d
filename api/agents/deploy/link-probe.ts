/**
 * @layer adapter
 * The real AgentProbe: the agent's health over the control plane's own SSH link (agent/link:
 * the agent user, the link key, the host key pinned in the same known_hosts file, a
 * direct-streamlocal channel to the agent's socket) — the path every later backup takes, so a
 * healthy answer here proves the key, its restriction and the socket owner are right.
 */
import { agentJson, connectAgent, type Health } from '../../../agent/link/index.ts';
import { DeployError } from './errors.ts';
import type { AgentHealthReport, AgentProbe, DeployTarget } from './port.ts';

export interface LinkProbeOptions {
  user: string;
  identityFile: string;
  knownHostsFile: string;
  socketPath: string;
}

export function healthReport(h: Health): AgentHealthReport {
  return {
    ok: h.ok, problems: h.problems, version: h.version, hostname: h.hostname,
    libvirtVersion: h.capabilities.libvirt.version, qemuVersion: h.capabilities.libvirt.hypervisor ?? h.capabilities.qemuImg,
    checkpoints: h.capabilities.libvirt.backup,
    ...(h.workDir ? { workDir: { path: h.workDir.path, freeBytes: h.workDir.freeBytes } } : {}),
    runningJobs: h.jobs.running,
  };
}

export function linkProbe(o: LinkProbeOptions): AgentProbe {
  return {
    async health(t: DeployTarget, opts = {}): Promise<AgentHealthReport> {
      const link = await connectAgent({ host: t.address, port: t.port ?? 22, username: o.user, identityFile: o.identityFile, knownHostsFile: o.knownHostsFile, socketPath: o.socketPath, signal: opts.signal, readyTimeoutMs: 15_000 })
        .catch((e: Error) => { throw new DeployError('not-healthy', `the control plane's link to ${t.name} does not open: ${e.message}`, {}, { cause: e }); });
      try {
        const res = await link.client.v1.health.$get({}, { init: { signal: opts.signal } });
        return healthReport(await agentJson(res) as Health);
      } finally {
        await link.close().catch(() => {});
      }
    },
  };
}
