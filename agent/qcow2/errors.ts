/**
 * @layer logic
 * Qcow2Error: the one error type of the qcow2 writer, reader, checker and their file adapters.
 * Messages start with `[qcow2]`; `code` says what kind of failure it is.
 */

export type Qcow2ErrorCode =
  /** the data has no qcow2 magic: not a qcow2 image, or one whose header was never written */
  | 'not-qcow2'
  /** a malformed image: bad header, misaligned or out-of-range offsets */
  | 'format'
  /** a valid qcow2 feature Sendense does not handle (encryption, compression, external data, …) */
  | 'unsupported'
  /** a caller's mistake: misaligned offset, range past the virtual size, bad option */
  | 'argument'
  /** a writeData/writeZero that touches a cluster already written */
  | 'overlap'
  /** a call in the wrong state: after finish(), or after an earlier failure broke the writer */
  | 'state'
  /** a read past the end of a file or memory buffer */
  | 'range'
  /** the file system or the sink failed */
  | 'io';

export class Qcow2Error extends Error {
  override name = 'Qcow2Error';
  constructor(readonly code: Qcow2ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[qcow2] ${message}`, options);
  }
}
