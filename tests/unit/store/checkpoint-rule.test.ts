/** Issue 17 item 5: one checkpoint rule — best (by validation loss), else last; recalibrated accepted everywhere. */
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_TAGS, checkpointCandidates, DEFAULT_CHECKPOINT, parseCheckpointTag } from '../../../src-main/contract/checkpoint';
import { missingCheckpointMessage, readCheckpointByRule } from '../../../src-main/store/checkpoint-rule';
import type { TrainState } from '../../../src-main/engine/model-types';

const state = (epoch: number) => ({ epoch }) as unknown as TrainState;
const reader = (tags: Record<string, number>) => ({ readCheckpoint: (_id: string, tag: string) => (tag in tags ? state(tags[tag]) : null) });

describe('the checkpoint rule', () => {
  it('defaults to best, falls back to last, and reads any tag asked for', () => {
    expect(DEFAULT_CHECKPOINT).toBe('best');
    expect(CHECKPOINT_TAGS).toEqual(['best', 'last', 'recalibrated']);
    expect(checkpointCandidates(undefined)).toEqual(['best', 'last']);
    const all = reader({ best: 3, last: 5, recalibrated: 3 });
    expect(readCheckpointByRule(all, 'r')).toMatchObject({ tag: 'best', state: { epoch: 3 } });
    expect(readCheckpointByRule(all, 'r', 'last')).toMatchObject({ tag: 'last', state: { epoch: 5 } });
    expect(readCheckpointByRule(all, 'r', 'recalibrated')).toMatchObject({ tag: 'recalibrated', state: { epoch: 3 } });
    expect(readCheckpointByRule(reader({ last: 2 }), 'r')).toMatchObject({ tag: 'last', state: { epoch: 2 } });
    expect(readCheckpointByRule(reader({ last: 2 }), 'r', 'recalibrated')).toEqual({ tag: 'recalibrated', state: null });
    expect(missingCheckpointMessage('run-a', 'recalibrated')).toBe('run "run-a" has no recalibrated checkpoint: write it with normlab bn run-a --recalibrate (or the BN view\'s Recalibrate)');
  });

  it('--checkpoint accepts exactly best, last and recalibrated', () => {
    expect(parseCheckpointTag(undefined)).toBeUndefined();
    for (const t of CHECKPOINT_TAGS) expect(parseCheckpointTag(t)).toBe(t);
    expect(() => parseCheckpointTag('epoch-3')).toThrow('--checkpoint expects best, last, recalibrated, got "epoch-3"');
  });
});
