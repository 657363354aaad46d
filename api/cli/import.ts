/**
 * @layer entry
 * `sendense import vmware PATH --repo TARGET`: a VMware VM export (an .ova, an .ovf folder, or a
 * datastore VM folder with its .vmx) becomes a `vmware` restore point of a repository — a full the
 * first time, then an incremental of only the changed blocks (agent/vmware/import.ts).
 *
 * Why here, in the control plane's command line, and not on a KVM host's agent: an import reads
 * files an admin copied out of vSphere, wherever they landed, and writes to the repository (a
 * folder or ssh://) exactly as an agent does; it needs qemu-nbd but no libvirt and no CloudStack,
 * so it runs on any machine that holds the export and can reach the repository. The control
 * plane's own `POST /api/v1/repositories/{id}/import` records the point afterwards.
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { openTarget } from '../../agent/target/open.ts';
import { importVmware } from '../../agent/vmware/import.ts';
import { qemuVmdkOpener } from '../../agent/vmware/qemu-disk.ts';
import { readVmwareExport } from '../../agent/vmware/read-export.ts';

export const IMPORT_USAGE = `Usage:
  sendense import vmware PATH --repo TARGET [--vm-id UUID] [--mode auto|full]
                              [--identity KEY] [--known-hosts FILE] [--json]
PATH is an .ova, an .ovf (or its folder), or a datastore VM folder (or its .vmx).
TARGET is a directory or ssh://user@host[:port]/path.
`;

function fail(msg: string, json: boolean, code = 1): number {
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: msg })}\n`);
  process.stderr.write(`sendense import: ${msg.replace(/\s+/g, ' ')}\n`);
  return code;
}

export async function importCommand(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind !== 'vmware') {
    process.stderr.write(`sendense import: ${kind ? `unknown source '${kind}'` : 'name the source'}: only 'vmware' is imported\n${IMPORT_USAGE}`);
    return 2;
  }
  let o;
  try {
    o = parseArgs({
      args: rest, allowPositionals: true, strict: true,
      options: { repo: { type: 'string' }, 'vm-id': { type: 'string' }, mode: { type: 'string' }, identity: { type: 'string' }, 'known-hosts': { type: 'string' }, json: { type: 'boolean' } },
    });
  } catch (e) {
    return fail(`${(e as Error).message}\n${IMPORT_USAGE}`, false, 2);
  }
  const json = o.values.json ?? false;
  if (o.positionals.length !== 1) return fail(`give exactly one PATH (got ${o.positionals.length})\n${IMPORT_USAGE}`, json, 2);
  if (!o.values.repo) return fail(`--repo is required\n${IMPORT_USAGE}`, json, 2);
  const mode = o.values.mode ?? 'auto';
  if (mode !== 'auto' && mode !== 'full') return fail(`--mode must be auto or full (got '${mode}')`, json, 2);

  const ac = new AbortController();
  const onSig = (sig: NodeJS.Signals) => ac.abort(new Error(`interrupted by ${sig}`));
  process.once('SIGTERM', onSig);
  process.once('SIGINT', onSig);
  const workDir = process.env.SENDENSE_IMPORT_WORKDIR ?? `${os.tmpdir()}/sendense-import`;
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  try {
    const exp = await readVmwareExport(o.positionals[0], ac.signal);
    const target = await openTarget(o.values.repo, { identityFile: o.values.identity, knownHostsFile: o.values['known-hosts'], signal: ac.signal });
    try {
      const debug = process.env.SENDENSE_DEBUG ? (m: string) => process.stderr.write(`[import] ${m}\n`) : undefined;
      const r = await importVmware({ target, openDisk: qemuVmdkOpener(workDir), host: os.hostname(), log: debug }, {
        export: exp, vmId: o.values['vm-id'], mode, signal: ac.signal,
      });
      if (json) {
        process.stdout.write(`${JSON.stringify({
          ok: true, point_id: r.pointId, vm_id: r.vmId, vm_name: exp.vm.name, type: r.type, parent: r.parent, reason: r.reason,
          bytes_stored: r.bytesStored, duration_ms: r.durationMs, checks: r.checks,
          disks: r.disks.map((d) => ({ target: d.target, type: d.type, image: d.image, file_size: d.file_size, virtual_size: d.virtual_size, changed_blocks: d.changed_blocks, blocks: d.blocks })),
        })}\n`);
      } else {
        process.stdout.write(`point ${r.pointId} of VMware VM ${exp.vm.name} (${r.vmId}): ${r.type}: ${r.reason}\n`);
        for (const c of r.checks) process.stdout.write(`  checked ${c}\n`);
        for (const d of r.disks) process.stdout.write(`  ${d.target} ${d.type} ${d.file_size} bytes stored${d.changed_blocks === null ? '' : ` (${d.changed_blocks} of ${d.blocks} blocks changed)`}\n`);
      }
      return 0;
    } finally {
      await target.close().catch(() => {});
    }
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e), json);
  } finally {
    process.off('SIGTERM', onSig);
    process.off('SIGINT', onSig);
  }
}
