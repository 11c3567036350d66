/**
 * Misclassified test images: the first N images (in test-split order) whose eval-mode prediction
 * differs from the label, with class names, confidence and the raw pixels.
 */
import type { MisclassifiedItem } from '../contract/study';

/**
 * Picks the first `n` misclassified images from an evaluation (`preds` and softmax `probs`, count ×
 * classes) of images[0..count). Pixels are copied as base64 of the raw bytes.
 */
export function pickMisclassified(
  ev: { preds: ArrayLike<number>; probs: ArrayLike<number> },
  labels: ArrayLike<number>,
  images: Uint8Array,
  pixels: number,
  classNames: string[],
  n: number,
): { items: MisclassifiedItem[]; wrong: number } {
  const classes = classNames.length;
  const items: MisclassifiedItem[] = [];
  let wrong = 0;
  for (let i = 0; i < ev.preds.length; i++) {
    const p = ev.preds[i];
    const y = labels[i];
    if (p === y) continue;
    wrong++;
    if (items.length >= n) continue;
    items.push({
      index: i,
      actual: y,
      predicted: p,
      actualName: classNames[y] ?? String(y),
      predictedName: classNames[p] ?? String(p),
      confidence: ev.probs[i * classes + p],
      actualProb: ev.probs[i * classes + y],
      pixels: Buffer.from(images.subarray(i * pixels, (i + 1) * pixels)).toString('base64'),
    });
  }
  return { items, wrong };
}

/** Decodes an item's base64 pixels. */
export function itemPixels(item: MisclassifiedItem): Uint8Array {
  return new Uint8Array(Buffer.from(item.pixels, 'base64'));
}
