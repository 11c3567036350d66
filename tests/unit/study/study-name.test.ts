/** Studies started without a name get "preset #n", unique in the workspace, so their runs read apart. */
import { describe, expect, it } from 'vitest';
import { defaultStudyName } from '../../../src-main/services/study';

describe('default study names', () => {
  it('numbers studies of a preset and never reuses a name', () => {
    expect(defaultStudyName('s6', [])).toBe('s6 #1');
    expect(defaultStudyName('s6', ['s6 #1', 'norms #1'])).toBe('s6 #2');
    // A renamed or deleted study leaves a gap: the next free number is taken.
    expect(defaultStudyName('s6', ['s6 #2'])).toBe('s6 #3');
    expect(defaultStudyName('norms', ['s6 #1', 's6 #2'])).toBe('norms #1');
  });
});
