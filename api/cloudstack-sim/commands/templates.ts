/**
 * @layer usecase
 * Templates uploaded from a client and VMs deployed from them — what a restore of a VMware point
 * as a new CloudStack VM uses (issue 16 §3), answered as CloudStack 4.22 does:
 *
 * - listOsTypes: the guest OS types a template names (a fixed catalogue, ids stable).
 * - getUploadParamsForTemplate (GetUploadParamsForTemplateCmd; required displaytext, format,
 *   hypervisor, name, ostypeid, zoneid; the details map, e.g. rootDiskController, nicAdapter,
 *   is not read: the simulator's request pipeline keeps declared parameters only) answers `postuploadtemplateresponse` → `getuploadparams` {id, postURL, metadata,
 *   expires, signature}: the template exists at once (status "Not uploaded", not ready), and the
 *   one POST to postURL is checked like the volume upload's (X-signature = HMAC-SHA1 over
 *   metadata + URL + expires with the SSVM key, not expired, used once; a QCOW2 template must be a
 *   qcow2 file), then the template is ready ("Download Complete").
 * - deployVirtualMachine (async, `virtualmachine`): serviceofferingid, templateid, zoneid; name,
 *   displayname, boottype (BIOS|UEFI) with bootmode (LEGACY|SECURE), networkids, details; a
 *   template not uploaded yet is refused as CloudStack does ("Template … has not been
 *   completely downloaded to zone …"); the ROOT volume is the template's image. The simulator
 *   deploys with startvm=false only: it has no hypervisor image to boot for a new VM.
 *
 * What the simulator's state has no place for (upload state, size, details, boot type) is kept
 * per runtime here; it lasts as long as the simulator process.
 */
import { apiErrors } from '../api-error.ts';
import { checkAccess } from '../access.ts';
import type { SimRuntime } from '../runtime.ts';
import { vmView } from '../views.ts';
import { ALL, LIST_PARAMS, listReply, matchesKeyword, type CommandContext, type CommandDef } from './command.ts';
import { openMetadata, sealMetadata, uploadSignature, type SsvmUploadRequest } from './upload.ts';

export const OS_TYPES = [
  { id: '7f3a0001-0000-4000-8000-000000000001', description: 'Other Linux (64-bit)', oscategoryname: 'Other' },
  { id: '7f3a0001-0000-4000-8000-000000000002', description: 'Ubuntu 22.04 LTS', oscategoryname: 'Ubuntu' },
  { id: '7f3a0001-0000-4000-8000-000000000003', description: 'Windows Server 2019 (64-bit)', oscategoryname: 'Windows' },
  { id: '7f3a0001-0000-4000-8000-000000000004', description: 'Windows Server 2022 (64-bit)', oscategoryname: 'Windows' },
] as const;

interface TemplateUpload {
  accountId: string;
  zoneId: string;
  format: string;
  status: string;
  ready: boolean;
  size: number;
  physicalSize?: number;
  /** the template's details map: not seen here (the request pipeline keeps declared parameters only) */
  details: Record<string, string>;
}

const uploadsOf = new WeakMap<SimRuntime, Map<string, TemplateUpload>>();
function templates(rt: SimRuntime): Map<string, TemplateUpload> {
  let m = uploadsOf.get(rt);
  if (!m) uploadsOf.set(rt, (m = new Map()));
  return m;
}

/** The SSVM POST for a template upload? (app.ts asks before treating it as a volume's) */
export function isTemplateUpload(rt: SimRuntime, id: string): boolean {
  return templates(rt).has(id);
}

/** The SSVM's POST of a template image: the volume upload's checks, then stored under the template's id. */
export async function handleTemplateUpload(rt: SimRuntime, req: SsvmUploadRequest): Promise<{ status: number; text: string }> {
  const t = templates(rt).get(req.volumeId);
  const { signature, metadata, expires, contentLength } = req.headers;
  if (!t) return { status: 400, text: 'no such template upload' };
  if (!signature || !metadata || !expires) return { status: 400, text: 'signature, metadata and expires are compulsory fields.' };
  if (!contentLength || contentLength <= 0) return { status: 400, text: 'content length is not set in the request or has invalid value.' };
  const url = `${req.proto}://${req.host}/upload/${req.volumeId}`;
  if (uploadSignature(rt.uploadPsk, metadata, url, expires) !== signature) return { status: 400, text: 'signature validation failed.' };
  const exp = Date.parse(expires);
  if (Number.isNaN(exp) || exp < rt.now()) return { status: 400, text: 'request not valid anymore.' };
  const meta = openMetadata(rt.uploadPsk, metadata);
  if (!meta || meta.templateId !== req.volumeId || !rt.pendingUploads.has(req.volumeId)) return { status: 400, text: 'The one time post url is already used' };
  rt.pendingUploads.delete(req.volumeId);
  t.status = 'Upload in Progress';
  const file = await req.file();
  if (!file) { t.status = 'Upload Error: received entity is not a file'; return { status: 422, text: 'received entity is not a file' }; }
  const reader = file.stream.getReader();
  const first = await reader.read();
  const head = first.value ?? new Uint8Array();
  const isQcow2 = head.length >= 32 && head[0] === 0x51 && head[1] === 0x46 && head[2] === 0x49 && head[3] === 0xfb;
  if (t.format === 'QCOW2' && !isQcow2) {
    await reader.cancel();
    t.status = `Upload Error: File type mismatch between the sent file and the actual content. Received: ${file.name}`;
    return { status: 400, text: t.status.replace('Upload Error: ', '') };
  }
  let sentHead = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (!sentHead) { sentHead = true; if (head.byteLength) { c.enqueue(head); return; } }
      const { done, value } = await reader.read();
      if (done) c.close(); else c.enqueue(value);
    },
  });
  try {
    const stored = await rt.uploads.put(req.volumeId, t.format, stream);
    t.physicalSize = stored.bytes;
    t.size = isQcow2 ? Number(Buffer.from(head.buffer, head.byteOffset, head.byteLength).readBigUInt64BE(24)) : stored.bytes;
    t.status = 'Download Complete';
    t.ready = true;
    return { status: 200, text: 'upload successful.' };
  } catch (e) {
    t.status = `Upload Error: ${e instanceof Error ? e.message : String(e)}`;
    return { status: 500, text: t.status };
  }
}

function ownerOf(ctx: CommandContext): string {
  const { rt, caller, args } = ctx;
  if (typeof args.account !== 'string') return caller.account.id;
  const domainId = typeof args.domainid === 'string' ? args.domainid : caller.domain.id;
  const acct = rt.state.accounts.find((a) => a.name === args.account && a.domainId === domainId);
  if (!acct) throw apiErrors.invalidParameter(`Unable to find account ${args.account} in domain id=${domainId}`);
  checkAccess(rt.state, caller, acct.id, `Account ${acct.name}`);
  return acct.id;
}

export const templateCommands: Record<string, CommandDef> = {
  listOsTypes: {
    roles: ALL,
    params: { ...LIST_PARAMS, id: { type: 'uuid' }, description: { type: 'string' } },
    run({ rt, args }) {
      const items = OS_TYPES.filter((o) => (args.id === undefined || o.id === args.id) && (args.description === undefined || o.description === args.description) && matchesKeyword(args, o.description))
        .map((o) => ({ id: o.id, description: o.description, name: o.description, oscategoryid: o.oscategoryname, oscategoryname: o.oscategoryname, isuserdefined: false }));
      return listReply('ostype', items, args, rt.state.settings.defaultPageSize);
    },
  },

  getUploadParamsForTemplate: {
    roles: ALL,
    responseName: 'postuploadtemplateresponse',
    params: {
      displaytext: { type: 'string', required: true }, format: { type: 'string', required: true }, hypervisor: { type: 'string', required: true },
      name: { type: 'string', required: true }, ostypeid: { type: 'uuid', required: true }, zoneid: { type: 'uuid', required: true },
      account: { type: 'string' }, domainid: { type: 'uuid' }, checksum: { type: 'string' }, bits: { type: 'integer' },
      isextractable: { type: 'boolean' }, ispublic: { type: 'boolean' }, requireshvm: { type: 'boolean' }, passwordenabled: { type: 'boolean' },
    },
    run(ctx) {
      const { rt, args } = ctx;
      const zone = rt.find(rt.state.zones, args.zoneid, ctx.command, 'zoneid');
      const os = OS_TYPES.find((o) => o.id === args.ostypeid);
      if (!os) throw apiErrors.invalidId(ctx.command, 'ostypeid', String(args.ostypeid));
      if (String(args.hypervisor).toUpperCase() !== 'KVM') throw apiErrors.invalidParameter(`Hypervisor ${args.hypervisor} is not supported in zone ${zone.name}: it has KVM clusters only`);
      const format = String(args.format).toUpperCase();
      if (!['QCOW2', 'RAW'].includes(format)) throw apiErrors.invalidParameter(`Image format: ${args.format} is not supported for hypervisor KVM. Supported formats are QCOW2, RAW`);
      const id = rt.newId();
      rt.state.templates.push({ id, name: String(args.name), osTypeName: os.description });
      templates(rt).set(id, { accountId: ownerOf(ctx), zoneId: zone.id, format, status: 'Not uploaded', ready: false, size: 0, details: {} });
      const expiresAt = rt.now() + rt.state.settings.uploadTimeoutMin * 60_000;
      const expires = new Date(expiresAt).toISOString();
      const postURL = `${ctx.origin}/upload/${id}`;
      const metadata = sealMetadata(rt.uploadPsk, { templateId: id, name: String(args.name), format, zoneId: zone.id, checksum: args.checksum });
      rt.pendingUploads.set(id, { volumeId: id, postUrl: postURL, expiresAt, format });
      return { kind: 'object', objectName: 'getuploadparams', body: { id, postURL, metadata, expires, signature: uploadSignature(rt.uploadPsk, metadata, postURL, expires) } };
    },
  },

  deployVirtualMachine: {
    roles: ALL,
    isasync: true,
    params: {
      serviceofferingid: { type: 'uuid', required: true }, templateid: { type: 'uuid', required: true }, zoneid: { type: 'uuid', required: true },
      name: { type: 'string' }, displayname: { type: 'string' }, account: { type: 'string' }, domainid: { type: 'uuid' },
      networkids: { type: 'string' }, boottype: { type: 'string' }, bootmode: { type: 'string' }, startvm: { type: 'boolean' }, hypervisor: { type: 'string' },
    },
    run(ctx) {
      const { rt, caller, args } = ctx;
      const zone = rt.find(rt.state.zones, args.zoneid, ctx.command, 'zoneid');
      const off = rt.find(rt.state.serviceOfferings, args.serviceofferingid, ctx.command, 'serviceofferingid');
      const tmpl = rt.find(rt.state.templates, args.templateid, ctx.command, 'templateid');
      const up = templates(rt).get(tmpl.id);
      if (up && (!up.ready || up.zoneId !== zone.id)) throw apiErrors.invalidParameter(`Template ${tmpl.id} has not been completely downloaded to zone ${zone.id}`);
      const boot = args.boottype === undefined ? undefined : String(args.boottype).toUpperCase();
      if (boot !== undefined && boot !== 'BIOS' && boot !== 'UEFI') throw apiErrors.invalidParameter(`Invalid boottype ${args.boottype}: BIOS or UEFI`);
      const mode = args.bootmode === undefined ? undefined : String(args.bootmode).toUpperCase();
      if (boot === 'UEFI' && mode !== 'LEGACY' && mode !== 'SECURE') throw apiErrors.invalidParameter('bootmode must be LEGACY or SECURE when boottype is UEFI');
      if (args.networkids !== undefined && String(args.networkids).trim()) throw apiErrors.invalidParameter(`Unable to find network by id ${String(args.networkids).split(',')[0]}`);
      if (args.startvm !== false) throw apiErrors.invalidParameter('the simulator deploys stopped VMs only: pass startvm=false (it has no hypervisor image to boot a new VM)');
      const accountId = ownerOf(ctx);
      const id = rt.newId();
      const name = typeof args.name === 'string' ? args.name : `VM-${id}`;
      if (rt.state.vms.some((v) => v.name === name && v.accountId === accountId)) throw apiErrors.invalidParameter(`The VM name ${name} is already in use in the account`);
      const vm = { id, name, displayName: typeof args.displayname === 'string' ? args.displayname : name, accountId, zoneId: zone.id, state: 'Stopped' as const, serviceOfferingId: off.id, templateId: tmpl.id, created: rt.date() };
      rt.state.vms.push(vm);
      rt.state.volumes.push({ id: rt.newId(), name: `ROOT-${name}`, type: 'ROOT', vmId: id, deviceId: 0, size: up?.size ?? 0, state: 'Ready', accountId, zoneId: zone.id, format: up?.format ?? 'QCOW2', created: rt.date(), path: tmpl.id });
      const job = rt.startJob(caller, { cmd: 'org.apache.cloudstack.api.command.user.vm.DeployVMCmd', instanceType: 'VirtualMachine', instanceId: id }, async () => {
        await rt.takeAMoment();
        return { virtualmachine: { ...vmView(rt.state, rt.state.vms.find((v) => v.id === id)!, caller), boottype: boot ?? 'BIOS', bootmode: mode ?? 'LEGACY' } };
      });
      return { kind: 'async', jobid: job.id };
    },
  },
};

/** The upload state of a template (tests and listTemplates' future `status`). */
export function templateUploadState(rt: SimRuntime, id: string): Readonly<TemplateUpload> | undefined {
  return templates(rt).get(id);
}
