/**
 * @layer usecase
 * Volume upload, both ways CloudStack offers:
 *
 * - getUploadParamsForVolume (answers as `postuploadvolumeresponse` → `getuploadparams`) creates
 *   the volume (state NotUploaded) and hands out {id, postURL, metadata, expires, signature}.
 *   The POST to postURL is what CloudStack's SSVM checks (NfsPostUploadRequestValidationService):
 *   headers X-signature, X-metadata, X-expires present, content-length > 0, signature =
 *   Base64(HMAC-SHA1(metadata + "<proto>://<host>/upload/<id>" + expires, PSK)), not expired, the
 *   URL used once; then the multipart file part is stored (a QCOW2 volume must be a qcow2 file)
 *   and the volume becomes Uploaded. Answers are text/plain, 200 "upload successful.".
 * - uploadVolume url= (async) creates the volume in state UploadOp; the download continues after
 *   the job (as in CloudStack) and ends in Uploaded or UploadError.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { apiErrors } from '../api-error.ts';
import { canAccessAccount } from '../access.ts';
import type { SimRuntime } from '../runtime.ts';
import type { VolumeState } from '../state.ts';
import { volumeView } from '../views.ts';
import { ALL, type CommandContext, type CommandDef } from './command.ts';

const FORMATS = ['QCOW2', 'RAW', 'VHD', 'VHDX', 'OVA', 'VMDK'];

function checkFormat(format: unknown): string {
  const f = String(format).toUpperCase();
  if (!FORMATS.includes(f)) throw apiErrors.invalidParameter(`Image format: ${format} is incorrect. Supported formats are ${FORMATS.join(', ')}`);
  return f;
}

function owner(ctx: CommandContext): string {
  const { rt, caller, args } = ctx;
  if (typeof args.account !== 'string') return caller.account.id;
  const domainId = typeof args.domainid === 'string' ? args.domainid : caller.domain.id;
  const acct = rt.state.accounts.find((a) => a.name === args.account && a.domainId === domainId);
  if (!acct) throw apiErrors.invalidParameter(`Unable to find account ${args.account} in domain id=${domainId}`);
  if (!canAccessAccount(rt.state, caller, acct.id)) throw apiErrors.permissionDenied(`Account ${caller.account.name} does not have permission to operate with resource Account ${acct.name}`);
  return acct.id;
}

function newVolume(ctx: CommandContext, state: string): VolumeState {
  const zone = ctx.rt.find(ctx.rt.state.zones, ctx.args.zoneid, ctx.command, 'zoneid');
  const vol: VolumeState = {
    id: ctx.rt.newId(), name: String(ctx.args.name), type: 'DATADISK', size: 0, state, accountId: owner(ctx), zoneId: zone.id,
    format: checkFormat(ctx.args.format), created: ctx.rt.date(),
  };
  ctx.rt.state.volumes.push(vol);
  return vol;
}

const key = (psk: string) => createHash('sha256').update(psk).digest();

export function sealMetadata(psk: string, data: Record<string, unknown>): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key(psk), iv);
  const body = Buffer.concat([c.update(JSON.stringify(data), 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

export function openMetadata(psk: string, metadata: string): Record<string, unknown> | undefined {
  try {
    const raw = Buffer.from(metadata, 'base64');
    const d = createDecipheriv('aes-256-gcm', key(psk), raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function uploadSignature(psk: string, metadata: string, url: string, expires: string): string {
  return createHmac('sha1', psk).update(`${metadata}${url}${expires}`).digest('base64');
}

/** The virtual size in a qcow2 header (bytes 24..31, big-endian), or undefined when not qcow2. */
function qcow2VirtualSize(head: Uint8Array): number | undefined {
  if (head.length < 32 || head[0] !== 0x51 || head[1] !== 0x46 || head[2] !== 0x49 || head[3] !== 0xfb) return undefined;
  return Number(Buffer.from(head.buffer, head.byteOffset, head.byteLength).readBigUInt64BE(24));
}

/** Reads the first `n` bytes of a stream and returns them with a stream of the whole content. */
async function peek(stream: ReadableStream<Uint8Array>, n: number): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let have = 0;
  while (have < n) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    have += value.byteLength;
  }
  const head = Buffer.concat(chunks);
  let sent = false;
  return {
    head,
    stream: new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) { sent = true; if (head.byteLength) { controller.enqueue(new Uint8Array(head)); return; } }
        const { done, value } = await reader.read();
        if (done) controller.close(); else controller.enqueue(value);
      },
      cancel(reason) { return reader.cancel(reason); },
    }),
  };
}

/** Stores an image for a volume and sets its sizes and state; rejects (state UploadError) on failure. */
async function storeImage(rt: SimRuntime, vol: VolumeState, data: ReadableStream<Uint8Array>, filename: string): Promise<void> {
  const { head, stream } = await peek(data, 32);
  const vsize = qcow2VirtualSize(head);
  if (vol.format === 'QCOW2' && vsize === undefined) {
    await stream.cancel();
    vol.state = 'UploadError';
    vol.status = `File type mismatch between the sent file and the actual content. Received: ${filename}`;
    throw new UploadRejected(400, vol.status);
  }
  try {
    const stored = await rt.uploads.put(vol.id, vol.format, stream);
    vol.physicalSize = stored.bytes;
    vol.size = vsize ?? stored.bytes;
    vol.state = 'Uploaded';
    vol.status = 'Upload Complete';
  } catch (e) {
    vol.state = 'UploadError';
    vol.status = `upload failed: ${e instanceof Error ? e.message : String(e)}`;
    throw new UploadRejected(500, vol.status);
  }
}

export class UploadRejected extends Error {
  constructor(readonly status: number, readonly text: string) {
    super(`[cloudstack-sim] upload: ${status} ${text}`);
  }
}

export interface SsvmUploadRequest {
  volumeId: string;
  /** scheme and host the request came to (X-Forwarded-Host wins, as behind the SSVM's proxy) */
  proto: string;
  host: string;
  headers: { signature?: string; metadata?: string; expires?: string; contentLength?: number };
  /** the multipart file part, read lazily after the checks pass */
  file: () => Promise<{ name: string; stream: ReadableStream<Uint8Array> } | undefined>;
}

/** The SSVM's POST upload: checks, then stores. Resolves with the HTTP status and text to answer. */
export async function handleSsvmUpload(rt: SimRuntime, req: SsvmUploadRequest): Promise<{ status: number; text: string }> {
  try {
    const { signature, metadata, expires, contentLength } = req.headers;
    if (!signature || !metadata || !expires) throw new UploadRejected(400, 'signature, metadata and expires are compulsory fields.');
    if (!contentLength || contentLength <= 0) throw new UploadRejected(400, 'content length is not set in the request or has invalid value.');
    const url = `${req.proto}://${req.host}/upload/${req.volumeId}`;
    if (uploadSignature(rt.uploadPsk, metadata, url, expires) !== signature) throw new UploadRejected(400, 'signature validation failed.');
    const exp = Date.parse(expires);
    if (Number.isNaN(exp) || exp < rt.now()) throw new UploadRejected(400, 'request not valid anymore.');
    const meta = openMetadata(rt.uploadPsk, metadata);
    const pending = rt.pendingUploads.get(req.volumeId);
    if (!meta || meta.volumeId !== req.volumeId || !pending) throw new UploadRejected(400, 'The one time post url is already used');
    rt.pendingUploads.delete(req.volumeId);
    const vol = rt.state.volumes.find((v) => v.id === req.volumeId);
    if (!vol) throw new UploadRejected(400, 'volume no longer exists');
    vol.state = 'UploadInProgress';
    const file = await req.file();
    if (!file) {
      vol.state = 'UploadError';
      vol.status = 'received entity is not a file';
      throw new UploadRejected(422, vol.status);
    }
    await storeImage(rt, vol, file.stream, file.name);
    return { status: 200, text: 'upload successful.' };
  } catch (e) {
    if (e instanceof UploadRejected) return { status: e.status, text: e.text };
    throw e;
  }
}

export const uploadCommands: Record<string, CommandDef> = {
  getUploadParamsForVolume: {
    roles: ALL,
    responseName: 'postuploadvolumeresponse',
    params: {
      name: { type: 'string', required: true }, zoneid: { type: 'uuid', required: true }, format: { type: 'string', required: true },
      checksum: { type: 'string' }, diskofferingid: { type: 'uuid' }, account: { type: 'string' }, domainid: { type: 'uuid' }, imagestoreuuid: { type: 'string' },
    },
    run(ctx) {
      const { rt } = ctx;
      const vol = newVolume(ctx, 'NotUploaded');
      const expiresAt = rt.now() + rt.state.settings.uploadTimeoutMin * 60_000;
      const expires = new Date(expiresAt).toISOString();
      const postURL = `${ctx.origin}/upload/${vol.id}`;
      const metadata = sealMetadata(rt.uploadPsk, { volumeId: vol.id, name: vol.name, format: vol.format, zoneId: vol.zoneId, accountId: vol.accountId, checksum: ctx.args.checksum });
      rt.pendingUploads.set(vol.id, { volumeId: vol.id, postUrl: postURL, expiresAt, format: vol.format });
      return {
        kind: 'object', objectName: 'getuploadparams',
        body: { id: vol.id, postURL, metadata, expires, signature: uploadSignature(rt.uploadPsk, metadata, postURL, expires) },
      };
    },
  },

  uploadVolume: {
    roles: ALL,
    params: {
      url: { type: 'string', required: true }, name: { type: 'string', required: true }, zoneid: { type: 'uuid', required: true },
      format: { type: 'string', required: true }, checksum: { type: 'string' }, account: { type: 'string' }, domainid: { type: 'uuid' },
    },
    run(ctx) {
      const { rt, caller } = ctx;
      const url = String(ctx.args.url);
      if (!/^https?:\/\//i.test(url)) throw apiErrors.invalidParameter(`Unsupported scheme for url: ${url}`);
      const vol = newVolume(ctx, 'UploadOp');
      vol.status = 'Download in progress';
      const job = rt.startJob(caller, { cmd: 'org.apache.cloudstack.api.command.user.volume.UploadVolumeCmd', instanceType: 'Volume', instanceId: vol.id }, async () => {
        await rt.takeAMoment();
        rt.track((async () => {
          try {
            const res = await rt.fetch(url, { method: 'GET' });
            if (res.status !== 200 || !res.body) throw new UploadRejected(500, `Failed to download ${url}: HTTP ${res.status}`);
            await storeImage(rt, vol, res.body, url.split('/').pop() ?? 'image');
          } catch (e) {
            vol.state = 'UploadError';
            vol.status = e instanceof UploadRejected ? e.text : `Failed to download ${url}: ${e instanceof Error ? e.message : String(e)}`;
          }
        })());
        return { volume: volumeView(rt.state, vol, caller) };
      });
      return { kind: 'async', jobid: job.id };
    },
  },
};
