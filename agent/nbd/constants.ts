/**
 * @layer logic
 * NBD wire constants, with the part of the protocol (github.com/NetworkBlockDevice/nbd,
 * doc/proto.md) that Sendense's client speaks. All integers are big-endian.
 *
 * Handshake, fixed newstyle:
 *   S: "NBDMAGIC" u64 | IHAVEOPT u64 | handshake flags u16 (FIXED_NEWSTYLE, NO_ZEROES)
 *   C: client flags u32 (echoes the ones it uses)
 *   C: option  = IHAVEOPT u64 | option u32 | length u32 | data
 *   S: reply   = OPT_REPLY_MAGIC u64 | option u32 | reply type u32 | length u32 | data
 *      Error reply types have bit 31 set; their data is an optional UTF-8 message.
 *   Options used, in order:
 *   - STRUCTURED_REPLY (no data) → ACK, or ERR_UNSUP (then reads use simple replies only).
 *   - LIST_META_CONTEXT / SET_META_CONTEXT: export name (u32 len + bytes) | query count u32 |
 *     queries (u32 len + bytes); → zero or more META_CONTEXT replies (context id u32 | name),
 *     then ACK. LIST accepts a namespace prefix such as "qemu:dirty-bitmap:"; SET gives the ids
 *     BLOCK_STATUS chunks carry. SET needs STRUCTURED_REPLY first.
 *   - GO / INFO: export name (u32 len + bytes) | info request count u16 | info types u16...;
 *     → INFO replies (info type u16 | payload), then ACK (GO enters transmission) or an error
 *     (ERR_UNKNOWN: no such export). INFO_EXPORT = size u64 | transmission flags u16;
 *     INFO_BLOCK_SIZE = minimum u32 | preferred u32 | maximum u32 (asking for it promises the
 *     client honours the minimum alignment and the maximum request size).
 *
 * Transmission:
 *   C: request = REQUEST_MAGIC u32 | command flags u16 | type u16 | cookie u64 | offset u64 |
 *      length u32 (| data for WRITE). DISC asks the server to finish and close.
 *   S: simple reply = SIMPLE_REPLY_MAGIC u32 | errno u32 | cookie u64 (| length bytes for a
 *      successful READ without structured replies).
 *   S: structured chunk = STRUCTURED_REPLY_MAGIC u32 | flags u16 (DONE on the last chunk) |
 *      type u16 | cookie u64 | payload length u32 | payload:
 *        NONE          nothing (only with DONE)
 *        OFFSET_DATA   offset u64 | data          (READ; chunks never overlap)
 *        OFFSET_HOLE   offset u64 | hole size u32 (READ; the range reads as zeroes)
 *        BLOCK_STATUS  context id u32 | descriptors (length u32 | flags u32)... starting at the
 *                      request offset; a server may describe only a prefix of the request
 *        ERROR         errno u32 | message length u16 | message
 *        ERROR_OFFSET  errno u32 | message length u16 | message | offset u64
 *   A successful structured READ covers the whole requested range with DATA and HOLE chunks.
 *   Replies come in any order; the cookie matches them to requests.
 */

export const NBDMAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const OPT_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** handshake flags (server) and client flags */
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
} as const;

export const REP_ERR_BIT = 0x80000000;
export const REP_ERR: Record<number, string> = {
  [REP_ERR_BIT + 1]: 'NBD_REP_ERR_UNSUP',
  [REP_ERR_BIT + 2]: 'NBD_REP_ERR_POLICY',
  [REP_ERR_BIT + 3]: 'NBD_REP_ERR_INVALID',
  [REP_ERR_BIT + 4]: 'NBD_REP_ERR_PLATFORM',
  [REP_ERR_BIT + 5]: 'NBD_REP_ERR_TLS_REQD',
  [REP_ERR_BIT + 6]: 'NBD_REP_ERR_UNKNOWN',
  [REP_ERR_BIT + 7]: 'NBD_REP_ERR_SHUTDOWN',
  [REP_ERR_BIT + 8]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
  [REP_ERR_BIT + 9]: 'NBD_REP_ERR_TOO_BIG',
  [REP_ERR_BIT + 10]: 'NBD_REP_ERR_EXT_HEADER_REQD',
};
export const REP_ERR_UNSUP = REP_ERR_BIT + 1;
export const REP_ERR_UNKNOWN = REP_ERR_BIT + 6;

export const INFO = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

/** transmission flags (INFO_EXPORT) */
export const TFLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

export const CMD_FLAG = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
} as const;

export const REPLY_FLAG_DONE = 1 << 0;

export const CHUNK = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: (1 << 15) + 1,
  ERROR_OFFSET: (1 << 15) + 2,
} as const;
/** bit 15 of a chunk type marks an error chunk, known or not */
export const CHUNK_ERROR_BIT = 1 << 15;

export const OPTION_HEADER = 16; // IHAVEOPT | option | length
export const OPTION_REPLY_HEADER = 20; // magic | option | type | length
export const REQUEST_SIZE = 28;
export const SIMPLE_REPLY_HEADER = 16;
export const STRUCTURED_REPLY_HEADER = 20;

/** The largest request length the wire can carry (u32). */
export const MAX_REQUEST_LENGTH = 0xffffffff;

/** The errno values NBD puts on the wire (fixed by the protocol, not the host's). */
export const NBD_ERRNO: Record<number, { name: string; text: string }> = {
  1: { name: 'EPERM', text: 'operation not permitted' },
  5: { name: 'EIO', text: 'input/output error' },
  12: { name: 'ENOMEM', text: 'cannot allocate memory' },
  22: { name: 'EINVAL', text: 'invalid argument' },
  28: { name: 'ENOSPC', text: 'no space left on device' },
  75: { name: 'EOVERFLOW', text: 'value too large (request too big)' },
  95: { name: 'ENOTSUP', text: 'operation not supported' },
  108: { name: 'ESHUTDOWN', text: 'server is shutting down' },
};

/** "EIO (input/output error)" or "errno 42" for a value the protocol does not define. */
export function errnoText(errno: number): string {
  const e = NBD_ERRNO[errno];
  return e ? `${e.name} (${e.text})` : `errno ${errno}`;
}

export function repErrText(type: number): string {
  return REP_ERR[type] ?? `reply error 0x${type.toString(16)}`;
}
