/**
 * @layer usecase
 * A VMware restore point restored into CloudStack as a new VM (issue 16 §3), following its plan
 * (restore-plan.ts): the root disk uploaded as a KVM template (getUploadParamsForTemplate + the
 * SSVM POST), the VM deployed from it stopped (deployVirtualMachine: the planned service
 * offering, zone, boot type and mode, the mapped networks), each data disk uploaded as a volume
 * (getUploadParamsForVolume + POST) and attached in order. The admin starts the VM after
 * reading the plan's guest needs. A plan with blockers is refused, except NICs the caller
 * chose to leave out (`withoutNetworks`: the VM gets no NIC, said in the result).
 */
import type { CloudStackApi, UploadImage } from '../cloudstack/port.ts';
import { UploadParamsSchema } from '../cloudstack/schemas.ts';
import type { VmwareVm } from '../../agent/vmware/metadata.ts';
import type { RestorePlan } from './restore-plan.ts';

export interface VmwareRestoreDeps {
  cloudstack: CloudStackApi;
  /** a disk of the point as one standalone qcow2 image (no backing file) */
  diskImage(target: string, signal?: AbortSignal): Promise<UploadImage & { close?(): Promise<void> }>;
  log?: (m: string) => void;
}

export interface VmwareRestoreRequest {
  vm: VmwareVm;
  plan: RestorePlan;
  /** the new VM's name (default: the VMware name) */
  name?: string;
  withoutNetworks?: boolean;
  signal?: AbortSignal;
}

export interface VmwareRestoreResult {
  virtualMachineId: string;
  templateId: string;
  rootVolumeId: string | null;
  dataVolumes: { target: string; volumeId: string; deviceId: number }[];
  notes: string[];
}

export class VmwareRestoreError extends Error {
  override name = 'VmwareRestoreError';
}

const OS_BY_GUEST: [RegExp, string][] = [[/^windows2019/i, 'Windows Server 2019 (64-bit)'], [/^windows20(22|25)/i, 'Windows Server 2022 (64-bit)'], [/^ubuntu/i, 'Ubuntu 22.04 LTS']];

export async function restoreVmwareAsNewVm(deps: VmwareRestoreDeps, req: VmwareRestoreRequest): Promise<VmwareRestoreResult> {
  const { plan, vm, signal } = req;
  const cs = deps.cloudstack;
  const log = deps.log ?? (() => {});
  const notes: string[] = [];
  const blockers = plan.blockers.filter((b) => !(req.withoutNetworks && /network/i.test(b)));
  if (blockers.length) throw new VmwareRestoreError(`[vmware-restore] the plan is not ready: ${blockers.join('; ')}`);
  if (!plan.zone || !plan.serviceOffering) throw new VmwareRestoreError('[vmware-restore] the plan has no zone or service offering');
  const networkIds = req.withoutNetworks ? [] : plan.nics.map((n) => n.network!.id);
  if (req.withoutNetworks && plan.nics.length) notes.push(`deployed without NICs as asked: VMware networks ${plan.nics.map((n) => `'${n.vmwareNetwork}'`).join(', ')} are not connected`);
  const name = req.name ?? vm.name;

  // the guest OS type CloudStack knows closest to VMware's
  const osTypes = await cs.listAll('listOsTypes', {}, { signal });
  const wanted = OS_BY_GUEST.find(([re]) => re.test(vm.guest_os_id ?? ''))?.[1] ?? (plan.guest.windows ? 'Windows Server 2022 (64-bit)' : 'Other Linux (64-bit)');
  const os = osTypes.find((o) => o.description === wanted) ?? osTypes.find((o) => o.description === 'Other Linux (64-bit)') ?? osTypes[0];
  if (!os) throw new VmwareRestoreError('[vmware-restore] CloudStack lists no OS type');

  const [root, ...data] = plan.disks;
  if (!root) throw new VmwareRestoreError('[vmware-restore] the point has no disk');
  const details: Record<string, string> = {};
  Object.entries(plan.templateDetails).forEach(([k, v], i) => { details[`details[${i}].key`] = k; details[`details[${i}].value`] = v; });
  const tr = await cs.call('getUploadParamsForTemplate', {
    name: `${name}-root`, displaytext: `root disk of VMware VM ${vm.name} restored by Sendense`, format: 'QCOW2', hypervisor: 'KVM',
    zoneid: plan.zone.id, ostypeid: String(os.id), ...details,
  }, { signal, method: 'POST' });
  const tparams = UploadParamsSchema.parse(tr.getuploadparams);
  const rootImage = await deps.diskImage(root.target, signal);
  try {
    await cs.uploadToPostUrl(tparams, rootImage, { signal });
  } finally {
    await rootImage.close?.();
  }
  log(`template ${tparams.id} uploaded (${root.target})`);

  const deployed = await cs.callAsync('deployVirtualMachine', {
    zoneid: plan.zone.id, serviceofferingid: plan.serviceOffering.id, templateid: tparams.id, name, displayname: `${vm.name} (from VMware)`,
    boottype: plan.boot.type, bootmode: plan.boot.type === 'UEFI' ? plan.boot.mode : undefined, startvm: false,
    networkids: networkIds.length ? networkIds.join(',') : undefined,
  }, { signal });
  const vmRec = (deployed.virtualmachine ?? deployed) as Record<string, unknown>;
  const virtualMachineId = String(vmRec.id);
  log(`VM ${virtualMachineId} deployed from template ${tparams.id}`);

  const dataVolumes: VmwareRestoreResult['dataVolumes'] = [];
  for (const [i, d] of data.entries()) {
    const params = await cs.getUploadParamsForVolume({ name: `${name}-${d.target}`, zoneid: plan.zone.id, format: 'QCOW2' }, { signal });
    const img = await deps.diskImage(d.target, signal);
    try {
      await cs.uploadToPostUrl(params, img, { signal });
    } finally {
      await img.close?.();
    }
    const vol = await cs.attachVolume({ id: params.id, virtualmachineid: virtualMachineId, deviceid: i + 1 }, { signal });
    dataVolumes.push({ target: d.target, volumeId: params.id, deviceId: Number(vol.deviceid ?? i + 1) });
    log(`${d.target} uploaded as volume ${params.id} and attached`);
  }
  const vols = await cs.listVolumes({ virtualmachineid: virtualMachineId, type: 'ROOT' }, { signal });
  notes.push(...plan.guest.needs);
  return { virtualMachineId, templateId: tparams.id, rootVolumeId: vols[0] ? String(vols[0].id) : null, dataVolumes, notes };
}
