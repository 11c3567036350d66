/** Reads a run's checkpoint by the one rule of contract/checkpoint.ts (best, else last; or the tag asked for). */
import { checkpointCandidates, type CheckpointTag } from '../contract/checkpoint';
import type { TrainState } from '../engine/model-types';

interface CheckpointReader {
  readCheckpoint(id: string, tag: string): TrainState | null;
}

/**
 * The checkpoint a command or view uses: `requested` when given (best falls back to last), else
 * best, else last. `tag` is the one actually read; state is null when none of them exists.
 */
export function readCheckpointByRule(ws: CheckpointReader, runId: string, requested?: CheckpointTag): { tag: CheckpointTag; state: TrainState | null } {
  const tags = checkpointCandidates(requested);
  for (const tag of tags) {
    const state = ws.readCheckpoint(runId, tag);
    if (state) return { tag, state };
  }
  return { tag: tags[0], state: null };
}

/** The sentence for a run without the checkpoint asked for. */
export function missingCheckpointMessage(runName: string, requested?: CheckpointTag): string {
  if (requested === 'recalibrated') return `run "${runName}" has no recalibrated checkpoint: write it with normlab bn ${runName} --recalibrate (or the BN view's Recalibrate)`;
  if (requested === 'last') return `run "${runName}" has no last checkpoint yet: it needs at least one finished epoch`;
  return `run "${runName}" has no checkpoint yet: it needs at least one finished epoch`;
}
