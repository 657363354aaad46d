/**
 * @layer adapter
 * The rows a point manifest becomes (restore_points and restore_point_disks): shared by a backup's
 * `record` and a repository import, so both store a manifest the same way.
 */
import { randomUUID } from 'node:crypto';
import type { PointManifest } from '../../agent/repository/manifest.ts';
import { restorePointDisks, restorePoints, type SourcePlatform } from '../schema.ts';
import type { PointPlace } from '../store.ts';
import type { Db } from './db.ts';
import { guard } from './db.ts';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];


/** Inserts the point and its disks; returns the point's database id. */
export function insertPoint(tx: Tx, m: PointManifest, at: PointPlace): string {
  const id = randomUUID();
  guard(`point ${m.id} of VM ${at.platformVmId}`, () => tx.insert(restorePoints).values({
    id, pointId: m.id, platformVmId: at.platformVmId, sourcePlatform: at.sourcePlatform, repositoryId: at.repositoryId,
    chainId: at.chainId, parentId: at.parentId, jobId: at.jobId, type: m.type, reason: m.reason, consistency: m.consistency,
    sizeBytes: m.disks.reduce((a, d) => a + d.file_size, 0),
    virtualSizeBytes: m.disks.reduce((a, d) => a + d.virtual_size, 0),
    bytesWritten: m.disks.reduce((a, d) => a + d.bytes_written, 0),
    manifest: m, platformMetadata: at.platformMetadata ?? null, createdAt: new Date(m.created_at), recordedAt: new Date(),
  }).run());
  for (const d of m.disks) {
    tx.insert(restorePointDisks).values({
      id: randomUUID(), restorePointId: id, diskIndex: d.index, target: d.target,
      volumeId: at.volumeIds?.[d.index] ?? (typeof d.volume_id === 'string' ? d.volume_id : null),
      type: d.type, image: d.image, backing: d.backing, checkpoint: d.checkpoint,
      virtualSizeBytes: d.virtual_size, fileSizeBytes: d.file_size, contentSha256: d.content_sha256,
    }).run();
  }
  return id;
}
