/**
 * The AgentGateway contract against the real thing: `sendense-agent serve` (the real engine and
 * libvirt) on this machine as the KVM host, reached over a real sshd on loopback, backing up lab
 * VMs into an SSH repository.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { labDir } from '../../test/lab/paths.ts';
import { createLabVm, type LabVm } from '../../test/lab/vm.ts';
import { startRepoHost, REPO_USER } from '../../test/lab/sshd.ts';
import { daemonDir, spawnDaemon } from '../../test/lab/agent-daemon.ts';
import { agentGatewayContract } from './contract.ts';
import { createLinkGateway } from './link-gateway.ts';

const M = 1 << 20;

agentGatewayContract('SSH link to a real agent daemon', async () => {
  const host = await startRepoHost({ label: 'gw' });
  const daemon = await spawnDaemon({ dir: daemonDir('gw'), socketOwner: REPO_USER });
  const vms: LabVm[] = [
    await createLabVm({ label: 'gw', transient: true, disks: [{ size: 32 * M, init: [{ offset: 0, length: 2 * M, pattern: 0x21 }] }] }),
    await createLabVm({ label: 'gwslow', transient: true, disks: [{ size: 768 * M, randomPrefix: 600 * M }] }),
  ];
  const scratch = labDir(`gw-restores-${randomUUID().slice(0, 8)}`);
  await mkdir(scratch, { recursive: true });
  const gateway = createLinkGateway({
    access: (hostId) => {
      const base = { host: host.host, username: host.user, identityFile: host.identityFile, knownHostsFile: host.knownHostsFile, socketPath: daemon.socketPath, repoIdentity: host.identityFile, repoKnownHosts: host.knownHostsFile };
      if (hostId === 'kvm-1') return { ...base, port: host.port };
      if (hostId === 'kvm-down') return { ...base, port: 1 };
      return undefined;
    },
  });
  const req = (vm: LabVm) => (mode: 'full' | 'incremental' | 'auto') => ({
    requestId: randomUUID(), vmId: vm.uuid, domain: vm.name, mode, repository: host.url('gw'),
    platformMetadata: { cloudstack: { vm_id: vm.uuid, zone: 'zone-1' } },
  });
  return {
    gateway, hostId: 'kvm-1', unreachableHostId: 'kvm-down',
    request: req(vms[0]),
    slowRequest: req(vms[1]),
    scratchPath: (name) => path.join(scratch, name),
    close: async () => {
      await gateway.close();
      daemon.kill('SIGTERM');
      await daemon.exited;
      for (const v of vms) await v.remove();
      await rm(scratch, { recursive: true, force: true });
      await host.stop();
    },
  };
});
