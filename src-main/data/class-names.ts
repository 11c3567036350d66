/**
 * Class names of the IDX datasets NormLab recognises. A folder is recognised by its name (and
 * EMNIST's file prefix); anything else gets "0".."N-1".
 */

export const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export const FASHION_MNIST = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** Kuzushiji-MNIST: one hiragana per row of the syllabary, with its romanisation. */
export const KMNIST = ['お (o)', 'き (ki)', 'す (su)', 'つ (tsu)', 'な (na)', 'は (ha)', 'ま (ma)', 'や (ya)', 'れ (re)', 'を (wo)'];

const UPPER = Array.from({ length: 26 }, (_, i) => String.fromCharCode(65 + i));
const LOWER = Array.from({ length: 26 }, (_, i) => String.fromCharCode(97 + i));

/** EMNIST ByClass: 62 classes. */
export const EMNIST_BYCLASS = [...DIGITS, ...UPPER, ...LOWER];
/** EMNIST Balanced and ByMerge: 47 classes; lower-case letters that look like their capital are merged. */
export const EMNIST_BALANCED = [...DIGITS, ...UPPER, 'a', 'b', 'd', 'e', 'f', 'g', 'h', 'n', 'q', 'r', 't'];
/** EMNIST Letters: 26 classes (its files label them 1..26; the loader shifts them to 0..25). */
export const EMNIST_LETTERS = UPPER;

export type DatasetKind =
  | 'mnist'
  | 'fashion-mnist'
  | 'kmnist'
  | 'emnist-byclass'
  | 'emnist-bymerge'
  | 'emnist-balanced'
  | 'emnist-letters'
  | 'emnist-digits'
  | 'emnist-mnist'
  | 'emnist'
  | 'unknown';

/**
 * Guesses the dataset from a folder name and an image file name (e.g. ".../fashion-mnist",
 * "emnist-letters-train-images-idx3-ubyte.gz").
 */
export function detectKind(folder: string, fileName: string): DatasetKind {
  const f = fileName.toLowerCase();
  const emnist = /emnist-(byclass|bymerge|balanced|letters|digits|mnist)-/.exec(f);
  if (emnist) return `emnist-${emnist[1]}` as DatasetKind;
  const name = folder.toLowerCase().replace(/\\/g, '/').split('/').filter(Boolean).pop() ?? '';
  if (name.includes('fashion')) return 'fashion-mnist';
  if (name.includes('kmnist') || name.includes('kuzushiji')) return 'kmnist';
  if (name.includes('emnist')) {
    for (const v of ['byclass', 'bymerge', 'balanced', 'letters', 'digits', 'mnist'] as const) {
      if (name.replace('emnist', '').includes(v)) return `emnist-${v}`;
    }
    return 'emnist';
  }
  if (name.includes('mnist')) return 'mnist';
  return 'unknown';
}

/**
 * Class names for a dataset whose labels run up to `maxLabel`. EMNIST without a variant in its
 * name is told apart by its class count; unknown datasets get "0".."N-1".
 */
export function classNamesFor(kind: DatasetKind, maxLabel: number): string[] {
  switch (kind) {
    case 'mnist':
    case 'emnist-digits':
    case 'emnist-mnist':
      return DIGITS;
    case 'fashion-mnist':
      return FASHION_MNIST;
    case 'kmnist':
      return KMNIST;
    case 'emnist-byclass':
      return EMNIST_BYCLASS;
    case 'emnist-bymerge':
    case 'emnist-balanced':
      return EMNIST_BALANCED;
    case 'emnist-letters':
      return EMNIST_LETTERS;
    case 'emnist':
      if (maxLabel === 61) return EMNIST_BYCLASS;
      if (maxLabel === 46) return EMNIST_BALANCED;
      if (maxLabel === 9) return DIGITS;
      return numbered(maxLabel + 1);
    case 'unknown':
      return numbered(maxLabel + 1);
  }
}

/** "0".."n-1". */
export function numbered(n: number): string[] {
  return Array.from({ length: Math.max(1, n) }, (_, i) => String(i));
}
