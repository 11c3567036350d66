import { reviveNonFinite } from './checkpoint-format';

/** A line that is not a record: where, its text, and why. */
export interface JsonlBadLine {
  /** 1-based line number in the file. */
  line: number;
  text: string;
  why: string;
}

/** What reading a line-per-record file found. */
export interface JsonlRead<T> {
  records: T[];
  /** Lines that are not records, other than a torn last line (skipped, counted). */
  skipped: number;
  /** The last line was not JSON: a write cut short by a crash; ignored. */
  tornTail: boolean;
  /** Every line that was not a record (the torn tail included), in file order. */
  bad: JsonlBadLine[];
}

/**
 * Parses JSON lines, tolerating what a crash or full disk leaves behind: a torn last line is
 * ignored, a bad line in the middle (a torn line that a later append wrote past) is skipped.
 * `check` returns null for a valid record, else what is wrong with it.
 */
export function parseJsonl<T>(text: string, check: (v: unknown) => string | null): JsonlRead<T> {
  const lines = text.split('\n');
  // A file that ends with '\n' has an empty last piece; that is no torn line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const records: T[] = [];
  const bad: JsonlBadLine[] = [];
  let skipped = 0;
  let tornTail = false;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    let why: string | null;
    let parsed = false;
    try {
      v = JSON.parse(line, reviveNonFinite);
      parsed = true;
      why = check(v);
    } catch (err) {
      why = `not JSON (${(err as Error).message})`;
    }
    if (why === null) {
      records.push(v as T);
      return;
    }
    bad.push({ line: i + 1, text: line, why });
    // Only an unparseable last line is a torn write; a whole line with wrong fields is damage.
    if (i === lines.length - 1 && !parsed) tornTail = true;
    else skipped++;
  });
  return { records, skipped, tornTail, bad };
}
