/**
 * One checkpoint rule for every command and view (bn, export, dropout, landscape, misclassified,
 * weights): the default is `best` (lowest validation loss), else `last`; `recalibrated` (written
 * by `bn --recalibrate`, population BN statistics) is accepted everywhere. Every result says which
 * checkpoint it used.
 */
export const CHECKPOINT_TAGS = ['best', 'last', 'recalibrated'] as const;
export type CheckpointTag = (typeof CHECKPOINT_TAGS)[number];
export const DEFAULT_CHECKPOINT: CheckpointTag = 'best';

/** The help line of every --checkpoint flag. */
export const CHECKPOINT_HELP =
  'best (lowest validation loss; the default, falls back to last), last, or recalibrated (written by normlab bn RUN --recalibrate)';

/** The order in which stored checkpoints are tried for a request (absent = the default rule). */
export function checkpointCandidates(requested: CheckpointTag | undefined): CheckpointTag[] {
  if (requested === undefined || requested === 'best') return ['best', 'last'];
  return [requested];
}

/** Parses a --checkpoint value; undefined stays undefined (the default rule). */
export function parseCheckpointTag(v: unknown): CheckpointTag | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' && (CHECKPOINT_TAGS as readonly string[]).includes(v)) return v as CheckpointTag;
  throw new Error(`--checkpoint expects ${CHECKPOINT_TAGS.join(', ')}, got ${JSON.stringify(v)}`);
}
