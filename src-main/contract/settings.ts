/**
 * The one settings table. It drives validation (services), the run form (renderer),
 * CLI flags (cli) and serialization (store). Pure data: no Node, DOM or library imports.
 */

export type NormKind = 'batch' | 'ghost' | 'layer' | 'group' | 'none';
export type OptimizerKind = 'sgd' | 'adam' | 'adamw';
export type ScheduleKind = 'constant' | 'step' | 'onecycle';
export type LossKind = 'ce' | 'mse';
export type BnPosition = 'before' | 'after';
export type BnConvention = 'pytorch' | 'keras';
export type ClipKind = 'none' | 'norm' | 'value';
export type TrainEngine = 'auto' | 'onnxruntime' | 'tfjs';

export interface TrainSettings {
  data: string;
  /** A preset (s5, resnet-tiny, separable, mlp) or the path of a model JSON file (contract/model-graph.ts). */
  model: string;
  epochs: number;
  trainLimit: number;
  testLimit: number;
  /** Share of the training split held out for validation (0 = the test split stands in for it). */
  valSplit: number;
  /** Image folders: "HxW" every image is resized to ('' = all images must share one size). */
  resize: string;
  /** Image folders without train/ and test/: share of each class used as the test split. */
  testSplit: number;
  batch: number;
  lr: number;
  linearScaling: boolean;
  optimizer: OptimizerKind;
  momentum: number;
  nesterov: boolean;
  schedule: ScheduleKind;
  stepEvery: number;
  stepGamma: number;
  norm: NormKind;
  ghostBatch: number;
  groups: number;
  bnPosition: BnPosition;
  bnConvention: BnConvention;
  /** Momentum in the chosen convention; null = cumulative moving average. */
  bnMomentum: number | null;
  bnEps: number;
  convBias: boolean;
  dropout: number;
  l1: number;
  l2: number;
  weightDecay: number;
  penalizeAll: boolean;
  clip: ClipKind;
  clipValue: number;
  earlyStop: number;
  augRotate: number;
  augShift: number;
  augErase: number;
  normalizeInput: boolean;
  shuffle: boolean;
  loss: LossKind;
  seed: number;
  bnRecordEvery: number;
  engine: TrainEngine;
  threads: number;
  name: string;
}

interface FieldBase<K extends keyof TrainSettings> {
  key: K;
  /** CLI flag without dashes. */
  flag: string;
  label: string;
  help: string;
  group: 'data' | 'optimizer' | 'normalization' | 'regularization' | 'augmentation' | 'run';
  /** Shown in the run list as a key setting. */
  key_setting?: boolean;
}
export interface NumberField<K extends keyof TrainSettings = keyof TrainSettings> extends FieldBase<K> {
  type: 'number';
  integer: boolean;
  min: number;
  max: number;
  default: number | null;
  nullable?: boolean;
  /** Use a log scale for sliders / steps. */
  log?: boolean;
}
export interface BoolField<K extends keyof TrainSettings = keyof TrainSettings> extends FieldBase<K> {
  type: 'boolean';
  default: boolean;
}
export interface ChoiceField<K extends keyof TrainSettings = keyof TrainSettings> extends FieldBase<K> {
  type: 'choice';
  choices: readonly string[];
  default: string;
}
export interface TextField<K extends keyof TrainSettings = keyof TrainSettings> extends FieldBase<K> {
  type: 'text';
  default: string;
  maxLength: number;
  /** A non-empty value must match this (regular-expression source), described by `patternHelp`. */
  pattern?: string;
  patternHelp?: string;
}
export type SettingField = NumberField | BoolField | ChoiceField | TextField;

export const SETTINGS: readonly SettingField[] = [
  { key: 'data', flag: 'data', label: 'Dataset', type: 'text', default: 'mnist', maxLength: 4096, group: 'data', key_setting: true,
    help: 'mnist (full MNIST, 60,000 train / 10,000 test, the default), mnist-sample (embedded, 10,000 real MNIST digits, for quick tries), fashion-mnist (Debian dataset-fashion-mnist), a folder of IDX files, or an image folder (train/<class>/*.png|jpg and test/<class>/…, or <class>/… split by --test-split).' },
  { key: 'model', flag: 'model', label: 'Model', type: 'text', default: 's5', maxLength: 4096, group: 'run', key_setting: true,
    help: 'A preset (s5 = the S5 net, resnet-tiny, separable, mlp) or the path of a model JSON file (format normlab-model/1). Norm nodes with norm "auto" and dropouts with rate "auto" follow the settings below.' },
  { key: 'epochs', flag: 'epochs', label: 'Epochs', type: 'number', integer: true, min: 1, max: 1000, default: 10, group: 'run', key_setting: true,
    help: 'Passes over the training split.' },
  { key: 'trainLimit', flag: 'train-limit', label: 'Train images', type: 'number', integer: true, min: 0, max: 10_000_000, default: 0, group: 'data',
    help: 'Use only the first N training images (0 = all).' },
  { key: 'testLimit', flag: 'test-limit', label: 'Test images', type: 'number', integer: true, min: 0, max: 10_000_000, default: 0, group: 'data',
    help: 'Evaluate on the first N test images (0 = all).' },
  { key: 'valSplit', flag: 'val-split', label: 'Validation split', type: 'number', integer: false, min: 0, max: 0.5, default: 0.1, group: 'data',
    help: 'Share of the training images held out for validation (seeded, stratified by class); best checkpoint and early stopping use it. 0 = use the test split as validation, as the course notebooks do.' },
  { key: 'resize', flag: 'resize', label: 'Resize to (HxW)', type: 'text', default: '', maxLength: 20, pattern: '^\\s*\\d{1,4}\\s*[xX×]\\s*\\d{1,4}\\s*$', patternHelp: 'HxW such as 32x32', group: 'data',
    help: 'Image folders: resize every image to HxW (e.g. 32x32, bilinear). Empty = every image must already have the same size.' },
  { key: 'testSplit', flag: 'test-split', label: 'Test split (image folder)', type: 'number', integer: false, min: 0.05, max: 0.5, default: 0.2, group: 'data',
    help: 'Image folders that hold class folders directly (no train/ and test/): share of each class kept as the test split (seeded, stratified).' },
  { key: 'batch', flag: 'batch', label: 'Batch size', type: 'number', integer: true, min: 1, max: 8192, default: 128, group: 'optimizer', key_setting: true,
    help: 'Images per optimizer step.' },
  { key: 'lr', flag: 'lr', label: 'Learning rate', type: 'number', integer: false, min: 1e-6, max: 10, default: 0.05, log: true, group: 'optimizer', key_setting: true,
    help: 'Base learning rate (at batch 128 when linear scaling is on).' },
  { key: 'linearScaling', flag: 'linear-scaling', label: 'Linear scaling rule', type: 'boolean', default: false, group: 'optimizer',
    help: 'Multiply the learning rate by batch/128 (Goyal et al. 2017).' },
  { key: 'optimizer', flag: 'optimizer', label: 'Optimizer', type: 'choice', choices: ['sgd', 'adam', 'adamw'], default: 'sgd', group: 'optimizer', key_setting: true,
    help: 'SGD with momentum, Adam, or AdamW (decoupled weight decay).' },
  { key: 'momentum', flag: 'momentum', label: 'SGD momentum', type: 'number', integer: false, min: 0, max: 0.999, default: 0.9, group: 'optimizer',
    help: 'Heavy-ball momentum for SGD (beta1 for Adam/AdamW).' },
  { key: 'nesterov', flag: 'nesterov', label: 'Nesterov', type: 'boolean', default: false, group: 'optimizer',
    help: 'Nesterov momentum (SGD only).' },
  { key: 'schedule', flag: 'schedule', label: 'LR schedule', type: 'choice', choices: ['constant', 'step', 'onecycle'], default: 'constant', group: 'optimizer',
    help: 'constant, step decay (every N epochs by gamma), or one-cycle (warm-up then cosine down).' },
  { key: 'stepEvery', flag: 'step-every', label: 'Step every (epochs)', type: 'number', integer: true, min: 1, max: 1000, default: 10, group: 'optimizer',
    help: 'Step schedule: decay period in epochs.' },
  { key: 'stepGamma', flag: 'step-gamma', label: 'Step gamma', type: 'number', integer: false, min: 0.001, max: 1, default: 0.1, group: 'optimizer',
    help: 'Step schedule: multiply the learning rate by this at each step.' },
  { key: 'norm', flag: 'norm', label: 'Normalization', type: 'choice', choices: ['batch', 'ghost', 'layer', 'group', 'none'], default: 'batch', group: 'normalization', key_setting: true,
    help: 'Normalization after every 3x3 conv: batch, ghost (virtual batches), layer, group, or none.' },
  { key: 'ghostBatch', flag: 'ghost-batch', label: 'Ghost batch size', type: 'number', integer: true, min: 1, max: 8192, default: 32, group: 'normalization',
    help: 'Ghost BN: images per virtual batch (each normalized with its own statistics).' },
  { key: 'groups', flag: 'groups', label: 'Groups', type: 'number', integer: true, min: 1, max: 16, default: 4, group: 'normalization',
    help: 'Group norm: number of channel groups (must divide the channels of every norm node; the S5 net has 8, 12 and 16 → use 1, 2 or 4).' },
  { key: 'bnPosition', flag: 'bn-position', label: 'Norm position', type: 'choice', choices: ['before', 'after'], default: 'before', group: 'normalization',
    help: 'Normalize before the ReLU (Ioffe & Szegedy) or after it.' },
  { key: 'bnConvention', flag: 'bn-convention', label: 'Momentum convention', type: 'choice', choices: ['pytorch', 'keras'], default: 'pytorch', group: 'normalization',
    help: 'pytorch: running = (1-m)·running + m·batch (m = 0.1). keras: running = m·running + (1-m)·batch (m = 0.99).' },
  { key: 'bnMomentum', flag: 'bn-momentum', label: 'BN momentum', type: 'number', integer: false, min: 0, max: 1, default: 0.1, nullable: true, group: 'normalization',
    help: 'Running-statistics momentum in the chosen convention; empty (CLI: "null") = cumulative average over all batches.' },
  { key: 'bnEps', flag: 'bn-eps', label: 'BN epsilon', type: 'number', integer: false, min: 1e-12, max: 1, default: 1e-5, log: true, group: 'normalization',
    help: 'Added to the variance before the square root.' },
  { key: 'convBias', flag: 'conv-bias', label: 'Conv bias', type: 'boolean', default: false, group: 'normalization',
    help: 'Give 3x3 convs a bias (with BN right after, the bias is subtracted out and only adds parameters).' },
  { key: 'dropout', flag: 'dropout', label: 'Dropout', type: 'number', integer: false, min: 0, max: 0.95, default: 0.05, group: 'regularization', key_setting: true,
    help: 'Inverted dropout rate after every 3x3 block (0 = off).' },
  { key: 'l1', flag: 'l1', label: 'L1 λ', type: 'number', integer: false, min: 0, max: 1, default: 0, group: 'regularization', key_setting: true,
    help: 'Adds λ·Σ|w| over conv/dense kernels to the loss.' },
  { key: 'l2', flag: 'l2', label: 'L2 λ', type: 'number', integer: false, min: 0, max: 1, default: 0, group: 'regularization', key_setting: true,
    help: 'Adds λ·Σw² over conv/dense kernels to the loss.' },
  { key: 'weightDecay', flag: 'weight-decay', label: 'Weight decay', type: 'number', integer: false, min: 0, max: 1, default: 0, group: 'regularization', key_setting: true,
    help: 'Decoupled weight decay: w ← w − lr·wd·w each step (SGDW / AdamW), not part of the loss.' },
  { key: 'penalizeAll', flag: 'penalize-all', label: 'Penalize γ, β and biases', type: 'boolean', default: false, group: 'regularization',
    help: 'Apply L1/L2/decay to every parameter, not only conv/dense kernels.' },
  { key: 'clip', flag: 'clip', label: 'Gradient clipping', type: 'choice', choices: ['none', 'norm', 'value'], default: 'none', group: 'regularization',
    help: 'Clip the global gradient norm, or each gradient value, to the clip threshold.' },
  { key: 'clipValue', flag: 'clip-value', label: 'Clip threshold', type: 'number', integer: false, min: 1e-6, max: 1e6, default: 1, group: 'regularization',
    help: 'Maximum global norm (clip=norm) or absolute value (clip=value).' },
  { key: 'earlyStop', flag: 'early-stop', label: 'Early-stopping patience', type: 'number', integer: true, min: 0, max: 1000, default: 0, group: 'regularization',
    help: 'Stop after N epochs without a better validation loss and restore the best weights (0 = off).' },
  { key: 'augRotate', flag: 'aug-rotate', label: 'Rotate (°)', type: 'number', integer: false, min: 0, max: 180, default: 0, group: 'augmentation',
    help: 'Random rotation in ±degrees.' },
  { key: 'augShift', flag: 'aug-shift', label: 'Shift (px)', type: 'number', integer: true, min: 0, max: 14, default: 0, group: 'augmentation',
    help: 'Random translation in ±pixels.' },
  { key: 'augErase', flag: 'aug-erase', label: 'Random erasing p', type: 'number', integer: false, min: 0, max: 1, default: 0, group: 'augmentation',
    help: 'Probability of erasing a random rectangle (Zhong et al. 2017).' },
  { key: 'normalizeInput', flag: 'normalize-input', label: 'Normalize input', type: 'boolean', default: true, group: 'data',
    help: 'Subtract the training split mean and divide by its std, per channel.' },
  { key: 'shuffle', flag: 'shuffle', label: 'Shuffle', type: 'boolean', default: true, group: 'data',
    help: 'Reshuffle the training split every epoch (seeded).' },
  { key: 'loss', flag: 'loss', label: 'Loss', type: 'choice', choices: ['ce', 'mse'], default: 'ce', group: 'optimizer',
    help: 'Cross-entropy, or mean squared error between softmax and one-hot.' },
  { key: 'seed', flag: 'seed', label: 'Seed', type: 'number', integer: true, min: 0, max: 2 ** 31 - 1, default: 1, group: 'run',
    help: 'Seeds initialization, shuffling, dropout and augmentation: same seed and backend, same curves.' },
  { key: 'bnRecordEvery', flag: 'bn-record-every', label: 'BN record every (steps)', type: 'number', integer: true, min: 0, max: 100000, default: 0, group: 'normalization',
    help: 'Record batch and running BN statistics every K steps (0 = automatic, about 200 records per run).' },
  { key: 'engine', flag: 'engine', label: 'Training engine', type: 'choice', choices: ['auto', 'onnxruntime', 'tfjs'], default: 'auto', group: 'run',
    help: 'onnxruntime: each step runs as one ONNX graph (forward, loss, backward) on onnxruntime-node\'s native CPU kernels; tfjs: the tfjs backend (tfjs-node, else wasm). auto = onnxruntime when the model fits its graph (every norm of the S5 net), else tfjs.' },
  { key: 'threads', flag: 'threads', label: 'CPU threads', type: 'number', integer: true, min: 0, max: 256, default: 0, group: 'run',
    help: 'Threads for the onnxruntime engine (0 = one per core). The tfjs engine uses its backend\'s own setting.' },
  { key: 'name', flag: 'name', label: 'Run name', type: 'text', default: '', maxLength: 200, group: 'run',
    help: 'Optional label shown in lists and legends.' },
];

export const DEFAULT_SETTINGS: TrainSettings = Object.fromEntries(
  SETTINGS.map((f) => [f.key, f.default]),
) as unknown as TrainSettings;

export function fieldFor(key: keyof TrainSettings): SettingField {
  const f = SETTINGS.find((s) => s.key === key);
  if (!f) throw new Error(`unknown setting ${String(key)}`);
  return f;
}

/** One problem per field, phrased for a person. */
export interface SettingIssue {
  key: string;
  message: string;
}

/**
 * Validates a partial settings object against the table and fills defaults.
 * Pure so that the renderer form and the services share it.
 */
export function resolveSettings(input: Record<string, unknown>): { ok: true; value: TrainSettings } | { ok: false; issues: SettingIssue[] } {
  const issues: SettingIssue[] = [];
  const out: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  const known = new Set(SETTINGS.map((f) => f.key as string));
  for (const k of Object.keys(input)) {
    if (!known.has(k)) issues.push({ key: k, message: `unknown setting "${k}"` });
  }
  for (const f of SETTINGS) {
    if (!(f.key in input) || input[f.key] === undefined) continue;
    const v = input[f.key];
    const fail = (m: string) => issues.push({ key: f.key, message: `${f.label} (${f.flag}): ${m}` });
    switch (f.type) {
      case 'number':
        if (v === null && f.nullable) { out[f.key] = null; break; }
        if (typeof v !== 'number' || !Number.isFinite(v)) { fail(`must be a number, got ${JSON.stringify(v)}`); break; }
        if (f.integer && !Number.isInteger(v)) { fail(`must be a whole number, got ${v}`); break; }
        if (v < f.min || v > f.max) { fail(`must be between ${f.min} and ${f.max}, got ${v}`); break; }
        out[f.key] = v;
        break;
      case 'boolean':
        if (typeof v !== 'boolean') { fail(`must be true or false, got ${JSON.stringify(v)}`); break; }
        out[f.key] = v;
        break;
      case 'choice':
        if (typeof v !== 'string' || !f.choices.includes(v)) { fail(`must be one of ${f.choices.join(', ')}, got ${JSON.stringify(v)}`); break; }
        out[f.key] = v;
        break;
      case 'text':
        if (typeof v !== 'string') { fail(`must be text, got ${JSON.stringify(v)}`); break; }
        if (v.length > f.maxLength) { fail(`must be at most ${f.maxLength} characters`); break; }
        if (f.pattern && v !== '' && !new RegExp(f.pattern).test(v)) { fail(`expected ${f.patternHelp ?? `text matching ${f.pattern}`}, got ${JSON.stringify(v)}`); break; }
        out[f.key] = v;
        break;
    }
  }
  const s = out as unknown as TrainSettings;
  if (issues.length === 0) {
    // The S5 net's channel counts, checked here so the run form answers at once; any other model
    // is checked on its graph when the run starts (model/ validateGraph on the resolved graph).
    if (s.norm === 'group' && (s.model === 's5' || !s.model)) {
      for (const c of [8, 16, 12]) {
        if (c % s.groups !== 0) { issues.push({ key: 'groups', message: `Groups (groups): ${s.groups} does not divide ${c} channels; use 1, 2 or 4` }); break; }
      }
    }
    if (s.norm === 'ghost' && s.ghostBatch > s.batch) {
      issues.push({ key: 'ghostBatch', message: `Ghost batch size (ghost-batch): ${s.ghostBatch} is larger than the batch size ${s.batch}` });
    }
    if (s.bnConvention === 'keras' && !('bnMomentum' in input)) s.bnMomentum = 0.99;
  }
  return issues.length ? { ok: false, issues } : { ok: true, value: s };
}

/** The momentum on the *new* batch value (PyTorch's m), whatever the convention; null = cumulative. */
export function newValueMomentum(s: Pick<TrainSettings, 'bnConvention' | 'bnMomentum'>): number | null {
  if (s.bnMomentum === null) return null;
  return s.bnConvention === 'pytorch' ? s.bnMomentum : 1 - s.bnMomentum;
}

/** Learning rate after the linear scaling rule (reference batch 128). */
export function effectiveLr(s: Pick<TrainSettings, 'lr' | 'batch' | 'linearScaling'>): number {
  return s.linearScaling ? (s.lr * s.batch) / 128 : s.lr;
}
