/**
 * @layer port
 * HostFacts: what the daemon's policy (policy-guard.ts) needs to know about this host — where a
 * path really leads (symbolic links resolved), libvirt's storage pool folders, the disk files
 * of the domains libvirt knows — and VolumeRecord, the disk files of the domains this daemon has
 * backed up (CloudStack's VMs are transient: a stopped one is no libvirt domain any more, yet
 * its volumes are still the ones an in-place restore may write).
 * Adapters: host-facts-node.ts (fs, virsh, a JSON file beside the journal); the memory ones here.
 */

export interface HostFacts {
  /** `p` with every symbolic link resolved, as far as it exists (the missing rest appended as given) */
  resolve(p: string): Promise<string>;
  /** the target folders of libvirt's storage pools */
  poolPaths(): Promise<string[]>;
  /** file sources of every disk of every domain libvirt knows (running or defined) */
  domainVolumes(): Promise<string[]>;
}

export interface VolumeRecord {
  /** the disk files a backup of `vmId` (domain `domain`) read */
  remember(vmId: string, domain: string, files: string[]): Promise<void>;
  /** every file remembered, with the VM it belongs to */
  all(): Promise<{ vmId: string; domain: string; file: string }[]>;
}

export class MemoryHostFacts implements HostFacts {
  constructor(readonly facts: { links?: Record<string, string>; pools?: string[]; volumes?: string[] } = {}) {}

  async resolve(p: string): Promise<string> {
    // longest linked prefix first, repeatedly, like realpath
    let out = p;
    for (let i = 0; i < 40; i++) {
      const hit = Object.keys(this.facts.links ?? {}).sort((a, b) => b.length - a.length).find((l) => out === l || out.startsWith(`${l}/`));
      if (!hit) return out;
      out = this.facts.links![hit] + out.slice(hit.length);
    }
    throw new Error(`[daemon] too many levels of symbolic links in ${p}`);
  }

  async poolPaths(): Promise<string[]> {
    return [...(this.facts.pools ?? [])];
  }

  async domainVolumes(): Promise<string[]> {
    return [...(this.facts.volumes ?? [])];
  }
}

export class MemoryVolumeRecord implements VolumeRecord {
  private readonly byVm = new Map<string, { domain: string; files: string[] }>();

  async remember(vmId: string, domain: string, files: string[]): Promise<void> {
    this.byVm.set(vmId, { domain, files: [...files] });
  }

  async all(): Promise<{ vmId: string; domain: string; file: string }[]> {
    return [...this.byVm].flatMap(([vmId, v]) => v.files.map((file) => ({ vmId, domain: v.domain, file })));
  }
}
