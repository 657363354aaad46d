/**
 * @layer port
 * Small guards every BackupTarget adapter shares: the path gate (a path that would leave the
 * root is a 'config' error, never a file) and racing an operation against an AbortSignal, which
 * rejects with the signal's reason as soon as it fires.
 */
import { normalizeTargetPath } from './path.ts';
import { TargetError } from './port.ts';

/** `component` names the adapter in messages, e.g. '[target] [local]'. */
export function checkPath(component: string, p: string): string {
  const n = normalizeTargetPath(p);
  if (n === undefined) throw new TargetError('config', `${component} path ${JSON.stringify(p)} leaves the repository root`);
  return n;
}

/** A non-root path: removing or replacing the root itself is refused. */
export function checkEntryPath(component: string, p: string): string {
  const n = checkPath(component, p);
  if (n === '') throw new TargetError('config', `${component} the repository root itself cannot be the target of this call`);
  return n;
}

/**
 * Settles with `work`, or rejects with `signal.reason` when the signal fires first (then
 * `onAbort` runs, to stop what `work` was doing).
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, onAbort?: () => void): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    onAbort?.();
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const fire = () => {
      onAbort?.();
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', fire, { once: true });
    work.then(
      (v) => { signal.removeEventListener('abort', fire); resolve(v); },
      (e) => { signal.removeEventListener('abort', fire); reject(e); },
    );
  });
}
