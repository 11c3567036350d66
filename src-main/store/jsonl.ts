import { reviveNonFinite } from './checkpoint-format';

/** What reading a line-per-record file found. */
export interface JsonlRead<T> {
  records: T[];
  /** Unparseable or invalid lines before the last one (skipped, counted). */
  skipped: number;
  /** The last line was unparseable: a write cut short by a crash; ignored. */
  tornTail: boolean;
}

/**
 * Parses JSON lines, tolerating what a crash or full disk leaves behind: a torn last line is
 * ignored, a bad line in the middle (a torn line that a later append wrote past) is skipped.
 */
export function parseJsonl<T>(text: string, valid: (v: unknown) => v is T): JsonlRead<T> {
  const lines = text.split('\n');
  // A file that ends with '\n' has an empty last piece; that is no torn line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const records: T[] = [];
  let skipped = 0;
  let tornTail = false;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    let ok = false;
    try {
      v = JSON.parse(line, reviveNonFinite);
      ok = valid(v);
    } catch {
      ok = false;
    }
    if (ok) records.push(v as T);
    else if (i === lines.length - 1) tornTail = true;
    else skipped++;
  });
  return { records, skipped, tornTail };
}
