/**
 * @layer logic
 * The one error of the VMware importer: which file, what is wrong with it, and (in the message)
 * what to do. `code` says the kind: a file that is not what it claims ('invalid'), cut short
 * ('truncated'), a digest that does not match the .mf ('digest'), a file the descriptor names but
 * the export lacks ('missing'), something Sendense does not read ('unsupported').
 */
export type VmwareErrorCode = 'invalid' | 'truncated' | 'digest' | 'missing' | 'unsupported';

export class VmwareError extends Error {
  override name = 'VmwareError';
  constructor(readonly code: VmwareErrorCode, readonly file: string, message: string, options?: { cause?: unknown }) {
    super(`[vmware] ${file}: ${message}`, options);
  }
}
