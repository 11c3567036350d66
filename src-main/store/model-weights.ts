/**
 * The initial weights a model file names (its `weights` field, written by `import-model
 * --weights keep`), read for the Model view and for a run that starts from them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ModelGraph } from '../contract/model-graph';
import { decodeWeights } from './checkpoint-format';
import { StoreError } from './errors';

/**
 * The weights `graph.weights` names, relative to the spec file, or null when it names none. A
 * named file that is missing or damaged is an error naming it: a run must not silently start
 * from the seeded initialisation when the user imported weights.
 */
export function loadModelWeights(specPath: string, graph: Pick<ModelGraph, 'weights'>): ReturnType<typeof decodeWeights> | null {
  if (!graph.weights) return null;
  const file = resolve(dirname(resolve(specPath)), graph.weights);
  if (!existsSync(file)) throw new StoreError('not-found', `${resolve(specPath)} names weights ${graph.weights}, but ${file} is missing`, file);
  return decodeWeights(readFileSync(file), file);
}
