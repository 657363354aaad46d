/**
 * @layer logic
 * Dirty-bitmap state as QEMU reports it, mapped to the port's BitmapInfo:
 * - a stopped image (`qemu-img info --output=json`): flags 'auto' = recording, 'in-use' = QEMU
 *   had it open and never flushed it (killed, host crash) — for a closed image that means
 *   inconsistent;
 * - a running QEMU (QMP `query-named-block-nodes`): `recording`, `busy`, `persistent`,
 *   `inconsistent` on the disk's format node. Anonymous bitmaps (a job's internals) are skipped.
 */
import type { BitmapInfo } from './port.ts';

export interface ImageInfo {
  format: string;
  virtualSize: number;
  bitmaps: BitmapInfo[];
}

interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'format-specific'?: { type?: string; data?: { bitmaps?: { name: string; granularity: number; flags?: string[] }[] } };
}

export function parseImageInfo(json: string): ImageInfo {
  const info = JSON.parse(json) as QemuImgInfo;
  const bitmaps = (info['format-specific']?.data?.bitmaps ?? []).map((b): BitmapInfo => ({
    name: b.name,
    granularity: b.granularity,
    recording: (b.flags ?? []).includes('auto'),
    busy: false,
    inconsistent: (b.flags ?? []).includes('in-use'),
    persistent: true,
  }));
  return { format: info.format ?? '', virtualSize: info['virtual-size'] ?? 0, bitmaps };
}

interface QmpNode {
  'node-name'?: string;
  file?: string;
  drv?: string;
  'dirty-bitmaps'?: { name?: string; granularity: number; recording?: boolean; busy?: boolean; persistent?: boolean; inconsistent?: boolean }[];
}

/**
 * Bitmaps of one disk from `query-named-block-nodes` (flat): the node `nodeName` when given
 * (libvirt-<index>-format), otherwise the format node (not 'file'/protocol) whose file is `file`.
 * Undefined when no node matches.
 */
export function parseNodeBitmaps(qmpReply: string, match: { nodeName?: string; file: string }): BitmapInfo[] | undefined {
  const reply = JSON.parse(qmpReply) as { return?: QmpNode[]; error?: { desc?: string } };
  if (!reply.return) throw new Error(`[hypervisor] QMP query-named-block-nodes failed: ${reply.error?.desc ?? qmpReply.slice(0, 200)}`);
  const nodes = reply.return;
  const node = (match.nodeName ? nodes.find((n) => n['node-name'] === match.nodeName) : undefined)
    ?? nodes.find((n) => n.file === match.file && n.drv !== 'file' && n.drv !== 'host_device' && n.drv !== 'copy-before-write' && n['node-name']?.startsWith('libvirt-'));
  if (!node) return undefined;
  return (node['dirty-bitmaps'] ?? [])
    .filter((b) => typeof b.name === 'string' && b.name.length > 0)
    .map((b) => ({
      name: b.name!,
      granularity: b.granularity,
      recording: b.recording ?? false,
      busy: b.busy ?? false,
      inconsistent: b.inconsistent ?? false,
      persistent: b.persistent ?? false,
    }));
}
