/**
 * @layer adapter
 * The NBD client's errors: BlockSourceErrors whose message starts with "[nbd]" and names the
 * export, plus NbdServerError for an errno the server put on the wire (with its name and text).
 */
import { BlockSourceError, type BlockSourceErrorCode } from '../blocksource/port.ts';
import { NBD_ERRNO, errnoText } from './constants.ts';

export function nbdError(code: BlockSourceErrorCode, message: string, cause?: unknown): BlockSourceError {
  return new BlockSourceError(code, `[nbd] ${message}`, cause === undefined ? undefined : { cause });
}

/** The server answered a request with an error (simple reply errno or an ERROR chunk). */
export class NbdServerError extends BlockSourceError {
  override name = 'NbdServerError';
  /** the errno's name (EIO, EINVAL, …) or "errno N" */
  readonly errnoName: string;
  constructor(
    what: string,
    readonly errno: number,
    readonly serverMessage = '',
    /** ERROR_OFFSET: the first byte the error is about */
    readonly errorOffset?: number,
  ) {
    const at = errorOffset === undefined ? '' : ` at byte ${errorOffset}`;
    const msg = serverMessage ? `: ${JSON.stringify(serverMessage)}` : '';
    super('server', `[nbd] ${what}: server error ${errnoText(errno)}${at}${msg}`);
    this.errnoName = NBD_ERRNO[errno]?.name ?? `errno ${errno}`;
  }
}
