/**
 * @layer logic
 * A repository scan (the agent's ScanOutcome) as the VMs an import records: each VM's points and
 * its source platform (the repository's metadata.json says; without metadata, a point's VM is
 * taken as a plain KVM VM), and its platform_metadata, recorded on the points. A VMware VM's points
 * the database lacks are appended to what it has (`extend`: they come from imports). The
 * repository's used bytes are the sum of the VMs' folders.
 */
import type { ScanOutcome } from '../../agent/daemon/schemas.ts';
import { SOURCE_PLATFORMS, type SourcePlatform } from '../../db/schema.ts';
import type { ScannedVm } from '../../db/store.ts';

export function scannedVms(scan: ScanOutcome): { vms: ScannedVm[]; usedBytes: number; problems: string[] } {
  const platform = (p: string | undefined): SourcePlatform => (SOURCE_PLATFORMS as readonly string[]).includes(p ?? '') ? p as SourcePlatform : 'kvm';
  return {
    vms: scan.vms.map((v) => {
      const sourcePlatform = platform(v.metadata?.source_platform);
      // a VMware VM's new points come from imports, never from a backup job: append them to what is recorded
      return { vmId: v.vmId, sourcePlatform, points: v.points, bytesUsed: v.bytesUsed, platformMetadata: v.metadata?.platform_metadata ?? null, extend: sourcePlatform === 'vmware' };
    }),
    usedBytes: scan.vms.reduce((a, v) => a + v.bytesUsed, 0),
    problems: scan.vms.flatMap((v) => v.problems.map((p) => `${v.vmId}: ${p}`)),
  };
}
