/**
 * @layer usecase
 * What a backup reads before it decides anything (plan.ts BackupFacts): the domain and its disks,
 * the checkpoints libvirt knows, the repository's metadata, point ids and newest point, and each
 * chosen disk's virtual size and bitmaps — independent reads at once, since every libvirt or SSH
 * round trip costs tens of milliseconds. On the way it clears what an interrupted run left: a
 * backup job still running on the domain is ended (the caller serialises per domain) and the
 * repository's leftovers are removed (Repository.cleanupLeftovers).
 */
import type { DomainDisk, Hypervisor } from '../hypervisor/port.ts';
import type { ClaimRecord } from '../repository/point-claim.ts';
import type { Repository } from '../repository/repository.ts';
import { assertBackupable, isRunning, repositoryVmId, selectDisks, type BackupFacts } from './plan.ts';

export interface FactSources {
  hypervisor: Hypervisor;
  repo: Repository;
  /** a disk's virtual size in bytes (BackupDeps.diskSize) */
  diskSize(domain: string, disk: DomainDisk, signal?: AbortSignal): Promise<number>;
  /** whose leftovers stay (Repository.cleanupLeftovers): a live run's */
  ownerAlive?: (c: ClaimRecord) => boolean;
  log: (m: string) => void;
}

export async function readFacts(src: FactSources, req: { domain: string; vmId?: string; disks?: string[] }, started: Date, signal?: AbortSignal): Promise<BackupFacts> {
  const { hypervisor: hv, repo, log } = src;
  const dom = await hv.getDomain(req.domain, signal);
  log(`domain ${dom.name} is ${dom.state}`);
  const vmId = repositoryVmId(req.vmId, dom);
  const running = isRunning(dom);
  assertBackupable(dom);

  const [stale, domainDisks, checkpoints, metadata, pointIds] = await Promise.all([
    running ? hv.jobActive(dom.name, signal) : Promise.resolve(false),
    hv.disks(dom.name, signal),
    running ? hv.listCheckpoints(dom.name, signal).catch(() => []) : Promise.resolve([]),
    repo.readMetadata(vmId, signal),
    repo.pointIds(vmId, signal),
  ]);
  // a job left by a killed agent would block this one: end it (the caller serializes per domain)
  const staleJob = stale ? hv.abortJob(dom.name, signal).then(() => log(`a backup job left on ${dom.name} by an earlier run was ended`)) : undefined;
  staleJob?.catch(() => {}); // awaited below; a failure surfaces there
  const [removed, head] = await Promise.all([
    repo.cleanupLeftovers(vmId, { pointIds, ownerAlive: src.ownerAlive, signal }),
    pointIds.length ? repo.readPoint(vmId, pointIds[pointIds.length - 1], signal) : Promise.resolve(undefined),
  ]);
  if (removed.length) log(`removed leftovers of an interrupted run: ${removed.join(', ')}`);
  else log('no leftovers in the repository');

  const chosen = selectDisks(dom.name, domainDisks, req.disks);
  const disks = await Promise.all(chosen.map(async (disk) => {
    const trackable = disk.kind === 'file' && disk.format === 'qcow2';
    const [virtualSize, bitmaps] = await Promise.all([
      src.diskSize(dom.name, disk, signal),
      trackable ? hv.bitmaps(dom.name, disk.target, signal).catch((e: Error) => { log(`could not read the bitmaps of ${disk.target}: ${e.message}`); return undefined; }) : Promise.resolve([]),
    ]);
    return { disk, virtualSize, bitmaps };
  }));
  await staleJob;
  return { domain: dom, vmId, disks, checkpoints: checkpoints.map((c) => c.name), metadata, pointIds, head, started };
}
