/**
 * @layer adapter
 * The fixed-newstyle handshake (see constants.ts): greeting, STRUCTURED_REPLY,
 * LIST_META_CONTEXT, SET_META_CONTEXT, then GO (enter transmission) or INFO + ABORT (probe).
 * It talks through a HandshakeIO so the connection owns the socket. By default it negotiates
 * base:allocation and every qemu:dirty-bitmap:* context the server lists; an explicit context
 * list must be met in full, or it fails with 'unsupported' naming what is missing.
 */
import {
  FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES, IHAVEOPT, INFO, NBDMAGIC, OPT, OPT_REPLY_MAGIC,
  OPTION_REPLY_HEADER, REP, REP_ERR_BIT, REP_ERR_UNKNOWN, REP_ERR_UNSUP, TFLAG, repErrText,
} from './constants.ts';
import { nbdError } from './errors.ts';
import { decodeInfo, decodeMetaContext, decodeOptionReplyHeader, encodeInfoRequest, encodeMetaContextQuery, encodeOption, WireError } from './wire.ts';
import { BASE_ALLOCATION } from '../blocksource/port.ts';

export interface HandshakeIO {
  /** resolves with exactly n bytes, or rejects when the connection ends */
  read(n: number): Promise<Buffer>;
  write(b: Buffer): void;
}

/** What the server said about the export. */
export interface NbdExportInfo {
  export: string;
  size: number;
  /** transmission flags (TFLAG in constants.ts) */
  flags: number;
  readOnly: boolean;
  canMultiConn: boolean;
  /** requests are aligned to this (1 when the server does not say) */
  minBlock: number;
  preferredBlock: number;
  /** the largest request the server accepts */
  maxBlock: number;
  structuredReplies: boolean;
  description?: string;
  /** the meta contexts negotiated on this connection */
  contexts: string[];
  /** what LIST_META_CONTEXT reported (base:allocation and qemu:*), [] if it is unsupported */
  availableContexts: string[];
}

export interface HandshakeOptions {
  exportName: string;
  /** how errors name the export ("export \"vda\" at nbd+unix://…") */
  where: string;
  contexts?: readonly string[];
  mode: 'go' | 'info';
}

export interface HandshakeResult {
  info: NbdExportInfo;
  /** meta context name → the id BLOCK_STATUS chunks carry */
  contextIds: Map<string, number>;
}

const DEFAULT_MAX_BLOCK = 32 << 20;
const OLDSTYLE_MAGIC = 0x00420281861253n;

interface Reply {
  type: number;
  data: Buffer;
}

class Refused extends Error {
  constructor(readonly option: number, readonly type: number, readonly serverMessage: string) {
    super(`${repErrText(type)}${serverMessage ? `: ${JSON.stringify(serverMessage)}` : ''}`);
  }
}

async function option(io: HandshakeIO, opt: number, data?: Buffer): Promise<Reply[]> {
  io.write(encodeOption(opt, data));
  const replies: Reply[] = [];
  for (;;) {
    const h = decodeOptionReplyHeader(await io.read(OPTION_REPLY_HEADER));
    if (h.magic !== OPT_REPLY_MAGIC) throw new WireError(`[nbd] bad option reply magic 0x${h.magic.toString(16)}`);
    if (h.option !== opt) throw new WireError(`[nbd] reply for option ${h.option} while waiting for option ${opt}`);
    if (h.length > 16 << 20) throw new WireError(`[nbd] option reply of ${h.length} bytes`);
    const body = h.length ? Buffer.from(await io.read(h.length)) : Buffer.alloc(0);
    if (h.type & REP_ERR_BIT) throw new Refused(opt, h.type, body.toString('utf8'));
    if (h.type === REP.ACK) return replies;
    replies.push({ type: h.type, data: body });
  }
}

function refusedError(e: Refused, what: string, where: string): Error {
  if (e.type === REP_ERR_UNKNOWN) return nbdError('server', `${where} not found: the server refused ${what}: ${e.message}`, e);
  if (e.type === REP_ERR_UNSUP) return nbdError('unsupported', `${where}: the server does not support ${what}: ${e.message}`, e);
  return nbdError('server', `${where}: the server refused ${what}: ${e.message}`, e);
}

async function greet(io: HandshakeIO, where: string): Promise<void> {
  const g = await io.read(18);
  const magic = g.readBigUInt64BE(0);
  const second = g.readBigUInt64BE(8);
  if (magic !== NBDMAGIC) throw nbdError('protocol', `${where}: not an NBD server (greeting 0x${magic.toString(16)})`);
  if (second === OLDSTYLE_MAGIC) throw nbdError('unsupported', `${where}: oldstyle NBD servers are not supported`);
  if (second !== IHAVEOPT) throw nbdError('protocol', `${where}: bad newstyle magic 0x${second.toString(16)}`);
  const flags = g.readUInt16BE(16);
  if (!(flags & FLAG_FIXED_NEWSTYLE)) throw nbdError('unsupported', `${where}: the server does not speak fixed newstyle`);
  const c = Buffer.allocUnsafe(4);
  c.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (flags & FLAG_NO_ZEROES));
  io.write(c);
}

async function tryOption(io: HandshakeIO, opt: number, data?: Buffer): Promise<Reply[] | undefined> {
  try {
    return await option(io, opt, data);
  } catch (e) {
    if (e instanceof Refused && (e.type === REP_ERR_UNSUP || e.type === REP_ERR_BIT + 3 /* INVALID */)) return undefined;
    throw e;
  }
}

async function negotiateContexts(io: HandshakeIO, o: HandshakeOptions): Promise<{ available: string[]; ids: Map<string, number> }> {
  const listQueries = [BASE_ALLOCATION, 'qemu:', ...(o.contexts ?? []).filter((c) => c !== BASE_ALLOCATION && !c.startsWith('qemu:'))];
  const listed = await tryOption(io, OPT.LIST_META_CONTEXT, encodeMetaContextQuery(o.exportName, listQueries));
  const available = (listed ?? []).filter((r) => r.type === REP.META_CONTEXT).map((r) => decodeMetaContext(r.data).name);
  const wanted = o.contexts ? [...new Set(o.contexts)]
    : listed ? available.filter((n) => n === BASE_ALLOCATION || n.startsWith('qemu:dirty-bitmap:'))
      : [BASE_ALLOCATION];
  const ids = new Map<string, number>();
  if (wanted.length) {
    const set = await tryOption(io, OPT.SET_META_CONTEXT, encodeMetaContextQuery(o.exportName, wanted));
    for (const r of set ?? []) {
      if (r.type !== REP.META_CONTEXT) continue;
      const m = decodeMetaContext(r.data);
      ids.set(m.name, m.id);
    }
  }
  const missing = (o.contexts ?? []).filter((c) => !ids.has(c));
  if (missing.length) {
    const has = available.length ? available.join(', ') : 'none listed';
    throw nbdError('unsupported', `${o.where}: the server has no meta context ${missing.map((m) => JSON.stringify(m)).join(', ')} (it has: ${has})`);
  }
  return { available, ids };
}

function exportInfo(replies: Reply[], o: HandshakeOptions, structured: boolean, available: string[], ids: Map<string, number>): NbdExportInfo {
  let size: number | undefined;
  let flags = 0;
  let block = { minimum: 1, preferred: 4096, maximum: DEFAULT_MAX_BLOCK };
  let description: string | undefined;
  for (const r of replies) {
    if (r.type !== REP.INFO) continue;
    const part = decodeInfo(r.data);
    if (part.type === 'export') ({ size, flags } = part);
    else if (part.type === 'block-size') block = part;
    else if (part.type === 'description') description = part.description;
  }
  if (size === undefined) throw nbdError('protocol', `${o.where}: the server sent no NBD_INFO_EXPORT`);
  const bad = !(block.minimum >= 1 && (block.minimum & (block.minimum - 1)) === 0 && block.maximum >= block.minimum);
  if (bad) throw nbdError('protocol', `${o.where}: bad block sizes ${JSON.stringify(block)}`);
  return {
    export: o.exportName, size, flags,
    readOnly: Boolean(flags & TFLAG.READ_ONLY),
    canMultiConn: Boolean(flags & TFLAG.CAN_MULTI_CONN),
    minBlock: block.minimum, preferredBlock: block.preferred, maxBlock: block.maximum,
    structuredReplies: structured, description,
    contexts: [...ids.keys()], availableContexts: available,
  };
}

export async function handshake(io: HandshakeIO, o: HandshakeOptions): Promise<HandshakeResult> {
  let step = 'the greeting';
  try {
    await greet(io, o.where);
    step = 'NBD_OPT_STRUCTURED_REPLY';
    const structured = (await tryOption(io, OPT.STRUCTURED_REPLY)) !== undefined;
    let available: string[] = [];
    let ids = new Map<string, number>();
    if (structured) {
      step = 'NBD_OPT_LIST_META_CONTEXT/SET_META_CONTEXT';
      ({ available, ids } = await negotiateContexts(io, o));
    } else if (o.contexts?.length) {
      throw nbdError('unsupported', `${o.where}: the server has no structured replies, so no meta contexts ${o.contexts.join(', ')}`);
    }
    step = o.mode === 'go' ? 'NBD_OPT_GO' : 'NBD_OPT_INFO';
    const replies = await option(io, o.mode === 'go' ? OPT.GO : OPT.INFO, encodeInfoRequest(o.exportName, [INFO.BLOCK_SIZE, INFO.DESCRIPTION]));
    const info = exportInfo(replies, o, structured, available, ids);
    if (o.mode === 'info') {
      step = 'NBD_OPT_ABORT';
      io.write(encodeOption(OPT.ABORT));
    }
    return { info, contextIds: ids };
  } catch (e) {
    if (e instanceof Refused) throw refusedError(e, step, o.where);
    if (e instanceof WireError) throw nbdError('protocol', `${o.where}: during ${step}: ${e.message.replace(/^\[nbd\] /, '')}`, e);
    throw e;
  }
}
