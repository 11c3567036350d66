/**
 * Reading validation and test metrics for what they are. A run with a validation split has
 * val_* from data held out of train; a run with valSplit 0 (the course notebooks' way) and every
 * record written before the split existed use the test split as validation, and views say so.
 */
import type { EpochMetrics } from './api';

/** How a run's validation numbers came about. */
export type ValidationSource = 'held-out' | 'test' | 'legacy-test';

/** Where the run's validation numbers come from, judged from its metrics lines. */
export function validationSource(metrics: readonly EpochMetrics[]): ValidationSource {
  const first = metrics[0];
  if (!first) return 'held-out';
  if (first.val_loss === undefined) return 'legacy-test';
  return first.val_is_test ? 'test' : 'held-out';
}

/** One epoch's validation loss and accuracy (the test split's for runs without a validation split). */
export function valMetrics(m: EpochMetrics): { loss: number; acc: number } {
  return { loss: m.val_loss ?? m.test_loss, acc: m.val_acc ?? m.test_acc };
}

/** A short note for views and reports; empty when validation is a held-out split. */
export function validationNote(source: ValidationSource): string {
  if (source === 'test') return 'no validation split (--val-split 0): validation = test split, as in the course notebooks';
  if (source === 'legacy-test') return 'recorded before the validation split existed: validation = test split';
  return '';
}

/** The word a view puts on a validation series: "validation" or "validation = test". */
export function validationLabel(source: ValidationSource): string {
  return source === 'held-out' ? 'validation' : 'validation = test';
}
