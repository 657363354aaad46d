/**
 * @layer logic
 * A refused or failed API call as one error type: the HTTP status, the API's own code and
 * message (`{"error":{"code","message"}}`), or status 0 when the control plane could not be
 * reached. `ok()` turns a typed client response into its body or this error.
 */
export class ApiFailure extends Error {
  override name = 'ApiFailure';
  constructor(readonly status: number, readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
  get denied() { return this.status === 403; }
  get unauthenticated() { return this.status === 401; }
  get offline() { return this.status === 0; }
}

interface JsonResponse<T> { ok: boolean; status: number; json(): Promise<T>; text(): Promise<string> }

/** the body of a successful response; an ApiFailure carrying the API's message otherwise */
export async function ok<R extends JsonResponse<unknown>>(p: Promise<R>): Promise<Awaited<ReturnType<R['json']>>> {
  let r: R;
  try {
    r = await p;
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    if (e instanceof ApiFailure) throw e;
    throw new ApiFailure(0, 'offline', `the control plane did not answer (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  if (r.ok) return (await r.json()) as Awaited<ReturnType<R['json']>>;
  throw await failureOf(r);
}

export async function failureOf(r: { status: number; text(): Promise<string> }): Promise<ApiFailure> {
  const text = await r.text().catch(() => '');
  try {
    const b = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (b.error?.message) return new ApiFailure(r.status, b.error.code ?? 'error', b.error.message);
  } catch { /* not JSON */ }
  return new ApiFailure(r.status, 'error', `HTTP ${r.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** a response without a body (204): nothing, or the ApiFailure */
export async function done(p: Promise<{ ok: boolean; status: number; text(): Promise<string> }>): Promise<void> {
  let r;
  try {
    r = await p;
  } catch (e) {
    throw new ApiFailure(0, 'offline', `the control plane did not answer (${messageOf(e)})`, { cause: e });
  }
  if (!r.ok) throw await failureOf(r);
}
