/**
 * @layer logic
 * Names and paths of the repository layout (docs/FORMAT.md, "Layout"). Pure string work.
 */
export type ImageType = 'full' | 'incr';

const ID_RE = /^\d{8}-\d{6}$/;
const IMAGE_RE = /^(full|incr)-(\d{8}-\d{6})\.(qcow2|sums)$/;

/** A point id for a time: UTC YYYYMMDD-HHMMSS. */
export function pointIdFor(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
}

export function isPointId(id: string): boolean {
  return ID_RE.test(id);
}

export function pointIdTime(id: string): Date {
  if (!isPointId(id)) throw new Error(`[repository] not a point id: '${id}'`);
  return new Date(Date.UTC(+id.slice(0, 4), +id.slice(4, 6) - 1, +id.slice(6, 8), +id.slice(9, 11), +id.slice(11, 13), +id.slice(13, 15)));
}

/** The first id at or after `date` that is not taken. */
export function nextFreePointId(date: Date, taken: ReadonlySet<string>): string {
  let t = Math.floor(date.getTime() / 1000) * 1000;
  for (;;) {
    const id = pointIdFor(new Date(t));
    if (!taken.has(id)) return id;
    t += 1000;
  }
}

/**
 * The id of a VM's next point: the first second at or after `date` that is later than every id
 * taken. Ids then grow with every point of a VM whatever the clock of the host taking it (one
 * whose clock is behind continues after the newest point), so the id order is the order the
 * points were taken in; two runs in the same second get different ids.
 */
export function nextPointId(date: Date, taken: Iterable<string>): string {
  let t = Math.floor(date.getTime() / 1000) * 1000;
  for (const id of taken) if (isPointId(id)) t = Math.max(t, pointIdTime(id).getTime() + 1000);
  return pointIdFor(new Date(t));
}

/** The id one second after `id` (the next candidate when `id` is claimed by another run). */
export function pointIdAfter(id: string): string {
  return pointIdFor(new Date(pointIdTime(id).getTime() + 1000));
}

const UUIDISH = /^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$/;

/** A disk's target device as a manifest may name it (docs/FORMAT.md, "Names"): `vda`, `sdb`, `hdc`, … */
export const DISK_TARGET_RE = /^[a-z][a-z0-9]{0,31}$/;
/** A disk file as a manifest names it: `disk-<n>/(full|incr)-<point id>.(qcow2|sums)`, nothing else. */
const DISK_FILE_RE = /^disk-(\d{1,6})\/(full|incr)-\d{8}-\d{6}\.(qcow2|sums)$/;

export function isVmDirName(name: string): boolean {
  return UUIDISH.test(name) && !name.includes('..');
}

/** The disk index a manifest's image or sums name carries, if it is one of the FORMAT's names of that kind. */
export function diskFileIndex(name: string, kind: 'qcow2' | 'sums'): number | undefined {
  const m = DISK_FILE_RE.exec(name);
  return m && m[3] === kind ? Number(m[1]) : undefined;
}
export function assertVmDir(vmUuid: string): string {
  if (!isVmDirName(vmUuid)) throw new Error(`[repository] invalid VM id '${vmUuid}': letters, digits, '.', '_' and '-' only`);
  return vmUuid.toLowerCase();
}

export const vmDir = (vm: string) => assertVmDir(vm);
export const metadataPath = (vm: string) => `${vmDir(vm)}/metadata.json`;
export const pointsDir = (vm: string) => `${vmDir(vm)}/points`;
export const pointPath = (vm: string, id: string) => `${pointsDir(vm)}/${id}.json`;
export const diskDir = (vm: string, index: number) => `${vmDir(vm)}/disk-${index}`;
/** A disk's file as a manifest names it, relative to the VM's folder: `disk-<n>/<name>`. */
export const diskFile = (index: number, name: string) => `disk-${index}/${name}`;
export const imageName = (type: ImageType, id: string) => `${type}-${id}.qcow2`;
export const sumsName = (type: ImageType, id: string) => `${type}-${id}.sums`;
export const imagePath = (vm: string, index: number, type: ImageType, id: string) => `${diskDir(vm, index)}/${imageName(type, id)}`;
export const sumsPath = (vm: string, index: number, type: ImageType, id: string) => `${diskDir(vm, index)}/${sumsName(type, id)}`;
/** A point id's claim (point-claim.ts): made exclusively before any file of the point, removed after its commit. */
export const claimName = (id: string) => `.claim-${id}`;
export const claimPath = (vm: string, id: string) => `${pointsDir(vm)}/${claimName(id)}`;
export function parseClaimName(name: string): string | undefined {
  const m = /^\.claim-(\d{8}-\d{6})$/.exec(name);
  return m ? m[1] : undefined;
}
export const partialName = (job: string, finalName: string) => `.partial-${job}-${finalName}`;

export function isPartial(name: string): boolean {
  return name.startsWith('.partial-');
}

export function parseImageName(name: string): { type: ImageType; id: string; kind: 'qcow2' | 'sums' } | undefined {
  const m = IMAGE_RE.exec(name);
  return m ? { type: m[1] as ImageType, id: m[2], kind: m[3] as 'qcow2' | 'sums' } : undefined;
}

export function parseDiskDir(name: string): number | undefined {
  const m = /^disk-(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The name of the repository folder from a path inside it: 'disk-0/x' → 'x'. */
export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

export function checkpointName(pointId: string): string {
  return `sendense-${pointId}`;
}
