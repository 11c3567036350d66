/** Why a store operation failed; services map these onto the API's error codes. */
export type StoreErrorCode = 'not-found' | 'io' | 'corrupt' | 'conflict' | 'disk-full' | 'invalid';

/** An error whose message is written for a person: it names the run, file and what was kept. */
export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** The file the error is about, when there is one. */
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** True for the errno codes that mean "no space left": the disk-full case of issue 11. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The short system reason of a Node error ("ENOENT: no such file…") without the stack. */
export function reason(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
