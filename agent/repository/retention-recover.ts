/**
 * @layer usecase
 * The second half of a prune, and what the next run does with a prune a crash cut short
 * (docs/FORMAT.md, "Retention"): switch merged points to their new full images, remove the pruned
 * points, and roll every pending intent record forward (merges recorded as written) or back
 * (merges only planned). Every step is idempotent, so a crash during recovery is recovered too.
 * It needs nothing but the BackupTarget port, so Repository's leftover clean-up can run it.
 */
import { createHash } from 'node:crypto';
import type { BackupTarget } from '../target/port.ts';
import { TargetError } from '../target/port.ts';
import { diskDir, parseDiskDir, parseImageName, pointPath, pointsDir, vmDir, isPointId } from './layout.ts';
import { parseManifest, type PointManifest } from './manifest.ts';
import { intentPath, isSwitched, mergedManifest, parseIntent, retentionDir, type IntentMerge, type RetentionIntent } from './retention-intent.ts';

export class RetentionError extends Error {
  override name = 'RetentionError';
  constructor(readonly code: 'damaged' | 'invalid' | 'verify', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface RecoverOptions {
  signal?: AbortSignal;
  log?: (msg: string) => void;
  now?: () => Date;
}

const HEADER_BYTES = 65536;

export async function writeIntent(target: BackupTarget, intent: RetentionIntent, signal?: AbortSignal): Promise<void> {
  await target.writeFileAtomic(intentPath(intent.vm_uuid, intent.op), `${JSON.stringify(intent, null, 2)}\n`, signal);
}

export async function readIntents(target: BackupTarget, vm: string, signal?: AbortSignal): Promise<RetentionIntent[]> {
  const entries = await target.list(retentionDir(vm), signal);
  const out: RetentionIntent[] = [];
  for (const e of entries.filter((x) => !x.isDirectory && x.name.endsWith('.json') && !x.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = `${retentionDir(vm)}/${e.name}`;
    out.push(parseIntent((await target.readFile(path, signal)).toString('utf8'), `${target.url}/${path}`));
  }
  return out;
}

async function readManifest(target: BackupTarget, vm: string, id: string, signal?: AbortSignal): Promise<PointManifest | undefined> {
  try {
    return parseManifest((await target.readFile(pointPath(vm, id), signal)).toString('utf8'), `${target.url}/${pointPath(vm, id)}`);
  } catch (e) {
    if (e instanceof TargetError && e.code === 'not-found') return undefined;
    throw e;
  }
}

async function headerSha(target: BackupTarget, path: string, signal?: AbortSignal): Promise<string | undefined> {
  const st = await target.stat(path, signal);
  if (!st) return undefined;
  return createHash('sha256').update(await target.read(path, 0, Math.min(HEADER_BYTES, st.size), signal)).digest('hex');
}

/**
 * Steps 4 and 5 of a merge recorded as written: each new image renamed over the point's old one
 * (unless it is there already), then the point's manifest replaced by the merged one.
 * Returns the bytes of the old images the renames replaced.
 */
export async function switchMerge(target: BackupTarget, intent: RetentionIntent, m: IntentMerge, o: RecoverOptions = {}): Promise<number> {
  const vm = intent.vm_uuid;
  const root = vmDir(vm);
  const p = await readManifest(target, vm, m.point, o.signal);
  if (!p) throw new RetentionError('damaged', `[retention] ${intent.op}: the manifest of point ${m.point} is missing; the record ${intentPath(vm, intent.op)} is kept`);
  let replaced = 0;
  if (!isSwitched(p, intent.op)) {
    for (const d of m.disks) {
      if (!d.file_sha256) throw new RetentionError('invalid', `[retention] ${intent.op}: point ${m.point} disk ${d.index} has no recorded new image`);
      const now = await headerSha(target, `${root}/${d.image}`, o.signal);
      if (now === d.file_sha256.header) continue;
      const partial = await target.stat(`${root}/${d.partial}`, o.signal);
      if (!partial) throw new RetentionError('damaged', `[retention] ${intent.op}: neither the new image of point ${m.point} disk ${d.index} nor its partial ${d.partial} is there; the record is kept`);
      replaced += (await target.stat(`${root}/${d.image}`, o.signal))?.size ?? 0;
      await target.rename(`${root}/${d.partial}`, `${root}/${d.image}`, o.signal);
    }
    await target.writeFileAtomic(pointPath(vm, m.point), `${JSON.stringify(mergedManifest(p, m, intent.op, (o.now ?? (() => new Date()))()), null, 2)}\n`, o.signal);
    o.log?.(`point ${m.point} is now a full (merged ${m.from.join(', ')})`);
  }
  m.state = 'switched';
  await writeIntent(target, intent, o.signal);
  return replaced;
}

/** Removes the merges' partial files (a rollback of merges not yet written or switched). */
export async function removePartials(target: BackupTarget, vm: string, merges: readonly IntentMerge[], signal?: AbortSignal): Promise<void> {
  for (const m of merges) for (const d of m.disks) await target.remove(`${vmDir(vm)}/${d.partial}`, signal);
}

/**
 * Step 6: each removed point's manifest, then its images and sums — only files named after that
 * point that no remaining manifest names. Returns the bytes deleted.
 */
export async function removePoints(target: BackupTarget, vm: string, remove: readonly string[], signal?: AbortSignal): Promise<number> {
  const gone = new Set(remove);
  let bytes = 0;
  for (const id of remove) {
    const st = await target.stat(pointPath(vm, id), signal);
    if (st) {
      await target.remove(pointPath(vm, id), signal);
      bytes += st.size;
    }
  }
  // what the remaining manifests name is never deleted
  const named = new Set<string>();
  const ids = (await target.list(pointsDir(vm), signal)).map((e) => e.name).filter((n) => n.endsWith('.json') && isPointId(n.slice(0, -5))).map((n) => n.slice(0, -5));
  for (const id of ids) {
    const p = await readManifest(target, vm, id, signal);
    for (const d of p?.disks ?? []) { named.add(d.image); named.add(d.sums); }
  }
  for (const e of await target.list(vmDir(vm), signal)) {
    const n = e.isDirectory ? parseDiskDir(e.name) : undefined;
    if (n === undefined) continue;
    for (const f of await target.list(diskDir(vm, n), signal)) {
      const img = parseImageName(f.name);
      if (!img || !gone.has(img.id) || named.has(`disk-${n}/${f.name}`)) continue;
      await target.remove(`${diskDir(vm, n)}/${f.name}`, signal);
      bytes += f.size;
    }
  }
  return bytes;
}

/**
 * Finishes or undoes every pending prune of a VM (see docs/FORMAT.md, "After a crash").
 * Returns what it did, one line each.
 */
export async function recoverRetention(target: BackupTarget, vm: string, o: RecoverOptions = {}): Promise<string[]> {
  const done: string[] = [];
  for (const intent of await readIntents(target, vm, o.signal)) {
    const open = intent.merges.filter((m) => m.state !== 'switched');
    const planned = open.filter((m) => m.state === 'planned');
    for (const m of open.filter((x) => x.state === 'written')) {
      await switchMerge(target, intent, m, o);
      done.push(`${intent.op}: rolled forward the merge of ${m.point}`);
    }
    await removePartials(target, vm, planned, o.signal);
    if (planned.length) done.push(`${intent.op}: rolled back the merge(s) of ${planned.map((m) => m.point).join(', ')}; nothing removed, prune again`);
    else {
      await removePoints(target, vm, intent.remove, o.signal);
      done.push(`${intent.op}: removed ${intent.remove.join(', ')}`);
    }
    await target.remove(intentPath(vm, intent.op), o.signal);
  }
  // an empty folder costs every backup a round trip: there is at most one prune per VM at a time
  await target.remove(retentionDir(vm), o.signal);
  for (const d of done) o.log?.(d);
  return done;
}
