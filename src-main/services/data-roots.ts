/**
 * Browser mode reads datasets (and .onnx files to run) only from the folders it was started with
 * (`normlab serve --data-root DIR …`). Named datasets (mnist-sample, fashion-mnist, …) resolve
 * to fixed folders and are always allowed; anything else is a path and must lie inside a root
 * after symbolic links are resolved.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ApiError } from '../contract/api';

/** A dataset name rather than a path: lowercase letters, digits and '-'. */
const NAMED = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** Request fields that name a dataset or a file to read, searched two levels deep. */
const PATH_KEYS = new Set(['data', 'file']);

function real(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

/** Whether `path` (resolved) lies inside one of `roots` (already real paths). */
export function insideRoots(path: string, roots: readonly string[]): boolean {
  const r = real(resolve(path));
  if (r === null) return false;
  return roots.some((root) => {
    const rel = relative(root, r);
    return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
  });
}

/** Resolves the roots once (they must exist); throws naming the one that does not. */
export function resolveRoots(roots: readonly string[]): string[] {
  return roots.map((r) => {
    const p = real(resolve(r));
    if (p === null) throw new Error(`--data-root ${r}: no such folder`);
    return p;
  });
}

/** Refuses a request whose dataset or file path lies outside the roots (ApiError 'invalid', naming the field). */
export function checkDataPaths(method: string, params: unknown, roots: readonly string[]): void {
  const visit = (v: unknown, path: string, depth: number): void => {
    if (typeof v !== 'object' || v === null || depth > 2) return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const field = path ? `${path}.${k}` : k;
      if (PATH_KEYS.has(k) && typeof x === 'string') {
        if (k === 'data' && NAMED.test(x)) continue;
        if (!insideRoots(x, roots)) {
          throw new ApiError(
            'invalid',
            `${method}: ${field} "${x}" is outside the folders this browser session may read` +
              (roots.length ? ` (${roots.join(', ')})` : ' (none: start it with normlab serve --data-root DIR)'),
          );
        }
      } else visit(x, field, depth + 1);
    }
  };
  visit(params, '', 0);
}
