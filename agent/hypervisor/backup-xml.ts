/**
 * @layer logic
 * libvirt pull-mode backup XML: building the `<domainbackup mode='pull'>` for `backup-begin`
 * (a unix socket, one `<disk backup='yes' type='file'>` with a deliberate scratch file per exported
 * disk, per-disk full/incremental mode, every other disk `backup='no'`), and reading
 * `backup-dumpxml` back: the socket, export names, export bitmaps and scratch files.
 */
import type { BackupDiskSpec } from './port.ts';
import { child, childrenNamed, escapeXml as x, parseXml } from './xml.ts';

export function backupXml(socketPath: string, allDisks: readonly string[], disks: readonly BackupDiskSpec[], scratch: ReadonlyMap<string, string>): string {
  const lines = allDisks.map((name) => {
    const d = disks.find((s) => s.target === name);
    if (!d) return `    <disk name='${x(name)}' backup='no'/>`;
    const file = scratch.get(name);
    if (!file) throw new Error(`[hypervisor] no scratch file for ${name}`);
    const mode = d.incrementalFrom ? `backupmode='incremental' incremental='${x(d.incrementalFrom)}'` : `backupmode='full'`;
    return `    <disk name='${x(name)}' backup='yes' type='file' ${mode}>\n      <scratch file='${x(file)}'/>\n    </disk>`;
  });
  return `<domainbackup mode='pull'>\n  <server transport='unix' socket='${x(socketPath)}'/>\n  <disks>\n${lines.join('\n')}\n  </disks>\n</domainbackup>\n`;
}

export interface RunningBackup {
  socketPath?: string;
  disks: { disk: string; exportName: string; exportBitmap?: string; scratch?: string; incremental?: string }[];
  /** 'pull' or 'push' (libvirt's default, when the attribute is absent, is push) */
  mode?: string;
}

export function parseBackupXml(xml: string): RunningBackup {
  const b = parseXml(xml);
  const server = child(b, 'server');
  const disks = childrenNamed(child(b, 'disks'), 'disk')
    .filter((d) => d.attrs.backup !== 'no')
    .map((d) => {
      const scratch = child(d, 'scratch')?.attrs.file ?? child(d, 'scratch')?.attrs.dev;
      return {
        disk: d.attrs.name ?? '',
        exportName: d.attrs.exportname ?? d.attrs.name ?? '',
        ...(d.attrs.exportbitmap ? { exportBitmap: d.attrs.exportbitmap } : {}),
        ...(scratch ? { scratch } : {}),
        ...(d.attrs.incremental ? { incremental: d.attrs.incremental } : {}),
      };
    });
  return { ...(server?.attrs.socket ? { socketPath: server.attrs.socket } : {}), ...(b.attrs.mode ? { mode: b.attrs.mode } : {}), disks };
}
