/**
 * Starting a run from given weights (a model file's `weights`, written by `import-model --weights
 * keep`): every parameter and running statistic the resolved graph needs is taken from the file
 * when the file has it under the same name and shape, and seeded otherwise. The split is
 * reported, because a run's variant may need tensors the file lacks (group norm has no running
 * statistics, `norm: none` drops γ/β, a widened layer changes a shape).
 */
import type { ParamSpec, StateSpec } from './op';

export type GivenWeights = Record<string, { shape: number[]; data: Float32Array }>;

export interface StartSplit {
  /** Names taken from the file. */
  taken: string[];
  /** Names the file lacks (or holds with another shape): these start from the seeded values. */
  seeded: { name: string; why: string }[];
  /** Names in the file the graph does not use. */
  unused: string[];
}

/**
 * Which of `specs` come from `given` (same name, same shape). `values` holds the tensors taken,
 * copied, so the caller may overwrite its seeded values with them.
 */
export function splitStart(specs: readonly Pick<ParamSpec | StateSpec, 'name' | 'shape'>[], given: GivenWeights): StartSplit & { values: GivenWeights } {
  const values: GivenWeights = {};
  const taken: string[] = [];
  const seeded: StartSplit['seeded'] = [];
  const wanted = new Set<string>();
  for (const s of specs) {
    wanted.add(s.name);
    const g = given[s.name];
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (!g) seeded.push({ name: s.name, why: 'not in the file' });
    else if (g.shape.join() !== s.shape.join() || g.data.length !== n) seeded.push({ name: s.name, why: `the file has [${g.shape.join(', ')}], the graph needs [${s.shape.join(', ')}]` });
    else {
      values[s.name] = { shape: [...s.shape], data: Float32Array.from(g.data) };
      taken.push(s.name);
    }
  }
  return { values, taken, seeded, unused: Object.keys(given).filter((k) => !wanted.has(k)) };
}
