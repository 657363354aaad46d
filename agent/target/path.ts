/**
 * @layer logic
 * Repository paths as BackupTarget takes them: POSIX, relative to the target's root, never
 * escaping it. `normalizeTargetPath` is the one gate every adapter puts a caller's path through.
 */

/**
 * 'a//b/./c/' → 'a/b/c'; '', '.', '/' → '' (the root). Leading slashes are dropped: a path is
 * always relative to the root. Returns undefined for a path with a '..' segment or a NUL byte.
 */
export function normalizeTargetPath(p: string): string | undefined {
  if (p.includes('\0')) return undefined;
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return undefined;
    parts.push(seg);
  }
  return parts.join('/');
}

/** The parent of a normalized path ('' for a top-level name and for the root). */
export function parentPath(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/** The last segment of a normalized path. */
export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Joins a root (absolute or '') and a normalized relative path. */
export function joinPath(root: string, p: string): string {
  if (p === '') return root === '' ? '.' : root;
  if (root === '' ) return p;
  return root.endsWith('/') ? root + p : `${root}/${p}`;
}

/**
 * The hidden sibling a writeFileAtomic writes first: same directory (so the rename stays on one
 * file system), a name no listing mistakes for data ('.name.tmp-<token>').
 */
export function tempSibling(p: string, token: string): string {
  const dir = parentPath(p);
  const name = `.${baseName(p)}.tmp-${token}`;
  return dir === '' ? name : `${dir}/${name}`;
}
