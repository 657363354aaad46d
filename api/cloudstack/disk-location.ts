/**
 * @layer logic
 * Where a CloudStack volume lives on a KVM host, from its storage pool and its `path`:
 *
 *   NetworkFilesystem   /mnt/<pool id>/<volume path>   (the KVM agent mounts NFS pools there)
 *   Filesystem          <pool path>/<volume path>      (local storage)
 *   SharedMountPoint    <pool path>/<volume path>
 *   RBD                 rbd:<pool path>/<volume path>  (a libvirt network disk; pool path = Ceph pool)
 *   CLVM                /dev/<volume group>/<volume path>  (pool path = "/<volume group>")
 *
 * The format is what CloudStack's KVM agent creates on that storage: QCOW2 on file pools, RAW on
 * RBD and CLVM. CloudStack's API does not report it, so it is a strong hint the agent should
 * confirm (qemu-img info) before relying on it.
 */

export type DiskKind = 'file' | 'rbd' | 'block';
export type DiskFormat = 'qcow2' | 'raw';

export interface DiskLocation {
  kind: DiskKind;
  /** absolute file or device path, or `rbd:<pool>/<image>` */
  path: string;
  format: DiskFormat;
}

export interface PoolForLocation {
  id: string;
  type: string;
  path?: string;
}

export class DiskLocationError extends Error {
  override name = 'DiskLocationError';
}

function join(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, '')}/${file.replace(/^\/+/, '')}`;
}

export function diskLocation(pool: PoolForLocation, volumePath: string): DiskLocation {
  if (!volumePath) throw new DiskLocationError(`[cloudstack] volume in pool ${pool.id} has no path`);
  switch (pool.type) {
    case 'NetworkFilesystem':
      return { kind: 'file', path: join(`/mnt/${pool.id}`, volumePath), format: 'qcow2' };
    case 'Filesystem':
    case 'SharedMountPoint':
      if (!pool.path) throw new DiskLocationError(`[cloudstack] ${pool.type} pool ${pool.id} has no path`);
      return { kind: 'file', path: join(pool.path, volumePath), format: 'qcow2' };
    case 'RBD':
      if (!pool.path) throw new DiskLocationError(`[cloudstack] RBD pool ${pool.id} has no Ceph pool name (path)`);
      return { kind: 'rbd', path: `rbd:${pool.path.replace(/^\/+|\/+$/g, '')}/${volumePath}`, format: 'raw' };
    case 'CLVM':
      if (!pool.path) throw new DiskLocationError(`[cloudstack] CLVM pool ${pool.id} has no volume group (path)`);
      return { kind: 'block', path: join(`/dev/${pool.path.replace(/^\/+|\/+$/g, '')}`, volumePath), format: 'raw' };
    default:
      throw new DiskLocationError(`[cloudstack] storage pool ${pool.id} has type ${pool.type}, which Sendense cannot read on a KVM host`);
  }
}
