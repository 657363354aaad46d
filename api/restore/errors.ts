/**
 * @layer logic
 * RestoreError: what a restore request is refused for — no such point, restore or disk (notfound),
 * a state that does not allow it, such as a running VM for an in-place restore (conflict), or a
 * request that cannot be carried out as asked (invalid). The API maps them to 404, 409 and 422.
 */
export type RestoreErrorCode = 'notfound' | 'conflict' | 'invalid';

export class RestoreError extends Error {
  override name = 'RestoreError';
  constructor(readonly code: RestoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[restore] ${message}`, options);
  }
}
