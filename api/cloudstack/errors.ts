/**
 * @layer logic
 * The CloudStack client's one error type. `kind` says what went wrong:
 *   api      CloudStack answered with an error envelope (status, errorcode, cserrorcode, errortext)
 *   job      an async job ended with jobstatus 2 (errorcode is the job's jobresultcode, e.g. 530)
 *   network  the request never got an answer (connection refused, reset, TLS)
 *   timeout  a request or a job wait ran out of time
 *   aborted  the caller's AbortSignal fired
 *   protocol the answer was not what CloudStack sends (not JSON, wrong envelope, failed schema)
 *   notfound a get-by-id found nothing (the list answered, but empty)
 * Messages name the component and the command: `[cloudstack] listZones: 401 unable to verify …`.
 */

export type CloudStackErrorKind = 'api' | 'job' | 'network' | 'timeout' | 'aborted' | 'protocol' | 'notfound';

export interface CloudStackErrorInit {
  kind: CloudStackErrorKind;
  command: string;
  /** HTTP status of the answer, when there was one */
  status?: number;
  /** CloudStack's errorcode (431 bad parameter, 432 unsupported, 401 auth, 530 internal, …) */
  errorcode?: number;
  /** CloudStack's cserrorcode (the Java exception's code, e.g. 4350), when sent */
  cserrorcode?: number;
  /** CloudStack's own errortext, or a description of the failure */
  errortext: string;
  jobId?: string;
  cause?: unknown;
}

export class CloudStackError extends Error {
  override name = 'CloudStackError';
  readonly kind: CloudStackErrorKind;
  readonly command: string;
  readonly status?: number;
  readonly errorcode?: number;
  readonly cserrorcode?: number;
  readonly errortext: string;
  readonly jobId?: string;

  constructor(init: CloudStackErrorInit) {
    const code = init.errorcode ?? init.status;
    const where = init.jobId ? `${init.command} (job ${init.jobId})` : init.command;
    super(`[cloudstack] ${where}: ${code !== undefined ? `${code} ` : ''}${init.errortext}`, { cause: init.cause });
    this.kind = init.kind;
    this.command = init.command;
    this.status = init.status;
    this.errorcode = init.errorcode;
    this.cserrorcode = init.cserrorcode;
    this.errortext = init.errortext;
    this.jobId = init.jobId;
  }

  /** True for failures a read-only call may retry: 429, 503 and network errors. */
  get retryable(): boolean {
    if (this.kind === 'network') return true;
    return this.kind === 'api' && (this.status === 429 || this.status === 503);
  }
}

export function isCloudStackError(e: unknown): e is CloudStackError {
  return e instanceof CloudStackError;
}
