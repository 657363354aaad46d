/**
 * @layer logic
 * A VM's restore points as one lane per disk, oldest first: each entry is that disk's image in
 * the point (full or incremental, its file size) with the point's verification and platform.
 */
interface PointLike {
  id: string; pointId: string; createdAt: string; verificationStatus: string; sourcePlatform: string;
  disks: { target: string; type: 'full' | 'incremental'; fileSizeBytes: number }[];
}

export interface Lane {
  disk: string;
  points: { id: string; pointId: string; createdAt: string; type: 'full' | 'incremental'; fileSizeBytes: number; verificationStatus: string; sourcePlatform: string }[];
}

export function timeline(points: PointLike[]): Lane[] {
  const lanes = new Map<string, Lane>();
  const sorted = [...points].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  for (const p of sorted) {
    for (const d of p.disks) {
      let lane = lanes.get(d.target);
      if (!lane) { lane = { disk: d.target, points: [] }; lanes.set(d.target, lane); }
      lane.points.push({ id: p.id, pointId: p.pointId, createdAt: p.createdAt, type: d.type, fileSizeBytes: d.fileSizeBytes, verificationStatus: p.verificationStatus, sourcePlatform: p.sourcePlatform });
    }
  }
  return [...lanes.values()].sort((a, b) => a.disk.localeCompare(b.disk));
}
