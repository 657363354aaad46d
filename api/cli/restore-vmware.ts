/**
 * @layer entry
 * `sendense restore vmware --repo DIR --vm-id UUID [--point ID] --endpoint URL --api-key K --secret-key S
 *  [--zone ID] [--offering ID] [--network 'VMware name=network id']… [--virtio-drivers] [--without-networks]
 *  [--name NAME] [--apply] [--json]`: the plan of bringing a VMware point into CloudStack as a new
 * VM (api/vmware/restore-plan.ts), printed as a dry run; with --apply, the restore itself
 * (api/vmware/restore-vm.ts). The repository is a local directory here (the root image is
 * converted from its chain on this machine).
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { LocalTarget } from '../../agent/target/local.ts';
import { Repository } from '../../agent/repository/repository.ts';
import { VmwareVm } from '../../agent/vmware/metadata.ts';
import { CloudStackClient } from '../cloudstack/client.ts';
import { localChainImage } from '../vmware/chain-image.ts';
import { restorePlan } from '../vmware/restore-plan.ts';
import { restoreVmwareAsNewVm } from '../vmware/restore-vm.ts';

export const RESTORE_USAGE = `Usage:
  sendense restore vmware --repo DIR --vm-id UUID [--point ID] --endpoint URL --api-key K --secret-key S
                          [--zone ID] [--offering ID] [--network 'VMware name=network id']… [--virtio-drivers]
                          [--without-networks] [--name NAME] [--apply] [--json]
Without --apply it prints the plan (a dry run); --apply restores as a new, stopped CloudStack VM.
`;

export async function restoreCommand(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  if (kind !== 'vmware') {
    process.stderr.write(`sendense restore: only 'vmware' points are restored here (CloudStack VMs restore through the control plane)\n${RESTORE_USAGE}`);
    return 2;
  }
  let o;
  try {
    o = parseArgs({
      args: rest, strict: true, options: {
        repo: { type: 'string' }, 'vm-id': { type: 'string' }, point: { type: 'string' }, endpoint: { type: 'string' }, 'api-key': { type: 'string' }, 'secret-key': { type: 'string' },
        zone: { type: 'string' }, offering: { type: 'string' }, network: { type: 'string', multiple: true }, 'virtio-drivers': { type: 'boolean' },
        'without-networks': { type: 'boolean' }, name: { type: 'string' }, apply: { type: 'boolean' }, json: { type: 'boolean' },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`sendense restore: ${(e as Error).message}\n${RESTORE_USAGE}`);
    return 2;
  }
  for (const k of ['repo', 'vm-id', 'endpoint', 'api-key', 'secret-key'] as const) {
    if (!o[k]) { process.stderr.write(`sendense restore: --${k} is required\n${RESTORE_USAGE}`); return 2; }
  }
  try {
    const target = new LocalTarget(o.repo!);
    const repo = new Repository(target);
    const vmId = o['vm-id']!.toLowerCase();
    const meta = await repo.readMetadata(vmId);
    if (!meta) throw new Error(`no VM ${vmId} in ${o.repo}`);
    if (meta.source_platform !== 'vmware') throw new Error(`VM ${vmId} is a ${meta.source_platform} VM, not a VMware one`);
    const vm = VmwareVm.parse(meta.platform_metadata.vmware);
    const point = o.point ? await repo.readPoint(vmId, o.point) : await repo.head(vmId);
    if (!point) throw new Error(`VM ${vmId} has no restore point`);
    const networkMap: Record<string, string> = {};
    for (const m of o.network ?? []) {
      const eq = m.lastIndexOf('=');
      if (eq <= 0) throw new Error(`--network '${m}': give 'VMware network name=CloudStack network id'`);
      networkMap[m.slice(0, eq)] = m.slice(eq + 1);
    }
    const cs = new CloudStackClient({ endpoint: o.endpoint!, credentials: { apiKey: o['api-key']!, secretKey: o['secret-key']! } });
    const [zones, offerings, networks] = await Promise.all([
      cs.listZones().then((zs) => zs.map((z) => ({ id: String(z.id), name: String(z.name) }))),
      cs.listAll('listServiceOfferings').then((os_) => os_.map((x) => ({ id: String(x.id), name: String(x.name), cpuNumber: Number(x.cpunumber), memory: Number(x.memory) }))),
      cs.listAll('listNetworks', { listall: true }).then((ns) => ns.map((n) => ({ id: String(n.id), name: String(n.name), zoneId: String(n.zoneid) }))),
    ]);
    const plan = restorePlan({
      vm, zones, offerings, networks, zoneId: o.zone, serviceOfferingId: o.offering, networkMap, virtioDrivers: o['virtio-drivers'],
      disks: point.disks.map((d) => ({ index: d.index, target: d.target, virtual_size: d.virtual_size, vmware_device: meta.disks.find((m) => m.index === d.index)?.vmware_device as string | undefined })),
    });
    if (!o.apply) {
      if (o.json) process.stdout.write(`${JSON.stringify({ ok: true, point: point.id, plan })}\n`);
      else {
        process.stdout.write(`restore plan for VMware VM ${vm.name} (${vmId}), point ${point.id}: ${plan.ready ? 'ready' : 'NOT ready'}\n`);
        for (const b of plan.blockers) process.stdout.write(`  to do: ${b}\n`);
        process.stdout.write(`  zone ${plan.zone?.name ?? '?'}; offering ${plan.serviceOffering?.note ?? 'none'}\n  boot: ${plan.boot.note}\n`);
        for (const d of plan.disks) process.stdout.write(`  ${d.target} (${d.role}, ${d.sizeBytes} bytes) from ${d.vmware}: KVM ${d.kvmController}, as a ${d.via}\n`);
        for (const n of plan.nics) process.stdout.write(`  NIC ${n.index + 1} '${n.vmwareNetwork}' ${n.mac ?? ''} ${n.vmwareAdapter} → ${n.kvmModel} on ${n.network?.name ?? '(choose: --network)'}\n`);
        for (const g of plan.guest.needs) process.stdout.write(`  guest: ${g}\n`);
      }
      return plan.ready ? 0 : 3;
    }
    const workDir = process.env.SENDENSE_IMPORT_WORKDIR ?? `${os.tmpdir()}/sendense-import`;
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const r = await restoreVmwareAsNewVm({ cloudstack: cs, diskImage: localChainImage({ repoRoot: o.repo!, vmId, disks: point.disks, workDir }) }, {
      vm, plan, name: o.name, withoutNetworks: o['without-networks'],
    });
    if (o.json) process.stdout.write(`${JSON.stringify({ ok: true, point: point.id, ...r })}\n`);
    else {
      process.stdout.write(`VM ${r.virtualMachineId} deployed (stopped) from template ${r.templateId}; data volumes ${r.dataVolumes.map((d) => `${d.target}=${d.volumeId}`).join(', ') || 'none'}\n`);
      for (const n of r.notes) process.stdout.write(`  ${n}\n`);
    }
    return 0;
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ');
    if (o.json) process.stdout.write(`${JSON.stringify({ ok: false, error: msg })}\n`);
    process.stderr.write(`sendense restore: ${msg}\n`);
    return 1;
  }
}
