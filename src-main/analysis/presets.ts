/**
 * Study presets: named groups of runs that answer one question (the S6 assignment's four
 * regularization variants, the norm zoo, batch size with/without the linear scaling rule, …).
 * Pure data and functions: the services, CLI and renderer all expand them the same way.
 */
import type { PresetParam, StudyPresetInfo, StudyVariant } from '../contract/study';
import type { TrainSettings } from '../contract/settings';

interface PresetDef {
  id: string;
  title: string;
  help: string;
  base: Partial<TrainSettings>;
  params: PresetParam[];
  variants(p: Record<string, number>): StudyVariant[];
}

/** Settings a user may set for a whole study; variant keys still win over them. */
export const OVERRIDABLE: (keyof TrainSettings)[] = [
  'data', 'model', 'valSplit', 'epochs', 'trainLimit', 'testLimit', 'batch', 'lr', 'optimizer', 'momentum', 'schedule', 'seed', 'dropout', 'norm', 'earlyStop',
];

/*
 * Why l1 = 5e-5 and l2 = 5e-4 (SUM penalties over the ~8.7k conv/dense kernel weights, SGD lr 0.05,
 * momentum 0.9): the per-step pull of L1 is lr·λ₁/(1−β) = 2.5e-5 toward zero, i.e. ≈0.06 over
 * the 2,500 steps of 40 epochs on the 8k-image sample — comparable to a small kernel weight
 * (He init std ≈ 0.05–0.17), so weights the data do not defend end near zero while useful ones
 * survive. L2's per-step factor is 1 − lr·2λ₂/(1−β) = 0.9995, the same shrink as PyTorch's
 * weight_decay = 1e-3 at this lr: norms fall visibly, accuracy does not (BN makes the conv
 * kernels scale-invariant, so the shrink mostly raises the effective learning rate).
 */
export const S6_DEFAULTS = { l1: 5e-5, l2: 5e-4 } as const;

const PRESETS: PresetDef[] = [
  {
    id: 's6',
    title: 'S6: no regularization vs L1 vs L2 vs L1+L2',
    help:
      'The S6 assignment: the same network for 40 epochs without L1/L2, with L1, with L2, and with both. ' +
      `Defaults λ₁ = ${S6_DEFAULTS.l1} and λ₂ = ${S6_DEFAULTS.l2} are SUM penalties over the ~8.7k kernel weights: with SGD (lr 0.05, momentum 0.9) ` +
      'L1 pulls every weight toward zero by lr·λ₁/(1−β) = 2.5e-5 per step (enough to zero the weights the data do not need over 40 epochs), ' +
      'and L2 shrinks every weight by a factor 1 − lr·2λ₂/(1−β) ≈ 0.9995 per step (like weight_decay 1e-3): both visibly change sparsity and norms ' +
      'without wrecking accuracy. Raise them tenfold to see them hurt.',
    base: { epochs: 40 },
    params: [
      { key: 'l1', label: 'L1 λ', default: S6_DEFAULTS.l1, min: 0, max: 1, help: 'λ₁ of the L1 and L1+L2 runs (loss + λ₁Σ|w|).' },
      { key: 'l2', label: 'L2 λ', default: S6_DEFAULTS.l2, min: 0, max: 1, help: 'λ₂ of the L2 and L1+L2 runs (loss + λ₂Σw²).' },
    ],
    variants: (p) => [
      { key: 'none', label: 'no L1/L2', settings: { l1: 0, l2: 0 } },
      { key: 'l1', label: `L1 (λ=${p.l1})`, settings: { l1: p.l1, l2: 0 } },
      { key: 'l2', label: `L2 (λ=${p.l2})`, settings: { l1: 0, l2: p.l2 } },
      { key: 'l1l2', label: `L1+L2 (λ₁=${p.l1}, λ₂=${p.l2})`, settings: { l1: p.l1, l2: p.l2 } },
    ],
  },
  {
    id: 'norms',
    title: 'Normalization: batch, ghost, layer, group, none',
    help: 'The same network with each normalization after every 3×3 conv. Ghost BN uses virtual batches of 32; group norm 4 groups.',
    base: { epochs: 20 },
    params: [],
    variants: () => [
      { key: 'batch', label: 'batch norm', settings: { norm: 'batch' } },
      { key: 'ghost', label: 'ghost BN (32)', settings: { norm: 'ghost', ghostBatch: 32 } },
      { key: 'layer', label: 'layer norm', settings: { norm: 'layer' } },
      { key: 'group', label: 'group norm (4)', settings: { norm: 'group', groups: 4 } },
      { key: 'none', label: 'no norm', settings: { norm: 'none' } },
    ],
  },
  {
    id: 'batch-size',
    title: 'Batch size 32…1024, linear scaling rule on and off',
    help:
      'Batch sizes 32, 128, 512 and 1024 with the base learning rate as is, and with the linear scaling rule ' +
      '(lr × batch/128, Goyal et al. 2017). Without it, big batches take fewer, equally small steps and fall behind.',
    base: { epochs: 20 },
    params: [],
    variants: () =>
      [32, 128, 512, 1024].flatMap((b) => [
        { key: `b${b}`, label: `batch ${b}`, settings: { batch: b, linearScaling: false, ghostBatch: Math.min(32, b) } },
        { key: `b${b}-lsr`, label: `batch ${b} + linear scaling`, settings: { batch: b, linearScaling: true, ghostBatch: Math.min(32, b) } },
      ]),
  },
  {
    id: 'bn-position',
    title: 'BN before vs after ReLU, with and without conv bias',
    help: 'BN before the ReLU (Ioffe & Szegedy) or after it; and a conv bias, which BN right after the conv subtracts out again.',
    base: { epochs: 20, norm: 'batch' },
    params: [],
    variants: () => [
      { key: 'before', label: 'BN before ReLU', settings: { bnPosition: 'before', convBias: false } },
      { key: 'before-bias', label: 'BN before ReLU + conv bias', settings: { bnPosition: 'before', convBias: true } },
      { key: 'after', label: 'BN after ReLU', settings: { bnPosition: 'after', convBias: false } },
      { key: 'after-bias', label: 'BN after ReLU + conv bias', settings: { bnPosition: 'after', convBias: true } },
    ],
  },
  {
    id: 'dropout',
    title: 'Dropout rates with and without BN',
    help: 'Dropout 0, 0.05, 0.1 and 0.25 with batch norm and without any norm: the notes claim BN makes dropout unnecessary — test it.',
    base: { epochs: 20 },
    params: [],
    variants: () =>
      (['batch', 'none'] as const).flatMap((norm) =>
        [0, 0.05, 0.1, 0.25].map((rate) => ({
          key: `${norm === 'batch' ? 'bn' : 'nonorm'}-d${rate}`,
          label: `${norm === 'batch' ? 'BN' : 'no norm'}, dropout ${rate}`,
          settings: { norm, dropout: rate },
        })),
      ),
  },
];

/** Every preset with its variants expanded at the default params. */
export function listPresets(): StudyPresetInfo[] {
  return PRESETS.map((p) => ({
    id: p.id,
    title: p.title,
    help: p.help,
    base: p.base,
    params: p.params,
    variants: p.variants(defaultParams(p)),
    overridable: OVERRIDABLE,
  }));
}

function defaultParams(p: PresetDef): Record<string, number> {
  return Object.fromEntries(p.params.map((x) => [x.key, x.default]));
}

/** Names of the presets, for messages and CLI help. */
export const PRESET_IDS = PRESETS.map((p) => p.id);

export interface PlannedRun {
  variant: string;
  label: string;
  seed: number;
  /** Partial settings for runs.start (validated there). */
  settings: Partial<TrainSettings>;
}

/**
 * Expands a preset into the runs to start: base ← overrides ← variant, repeated for `seeds`
 * consecutive seeds. Throws an Error naming the bad preset, param or variant.
 */
export function expandPreset(
  presetId: string,
  opts: { overrides?: Partial<TrainSettings>; params?: Record<string, number>; seeds?: number; variants?: string[]; name?: string } = {},
): PlannedRun[] {
  const preset = PRESETS.find((p) => p.id === presetId);
  if (!preset) throw new Error(`unknown study preset "${presetId}"; use one of ${PRESET_IDS.join(', ')}`);
  const params = defaultParams(preset);
  for (const [k, v] of Object.entries(opts.params ?? {})) {
    const def = preset.params.find((x) => x.key === k);
    if (!def) {
      const known = preset.params.map((x) => x.key);
      throw new Error(`preset ${preset.id} has no parameter "${k}"${known.length ? ` (it has ${known.join(', ')})` : ' (it has none)'}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < def.min || v > def.max) {
      throw new Error(`preset ${preset.id}: ${def.label} (${k}) must be a number between ${def.min} and ${def.max}, got ${v}`);
    }
    params[k] = v;
  }
  for (const k of Object.keys(opts.overrides ?? {})) {
    if (!OVERRIDABLE.includes(k as keyof TrainSettings)) {
      throw new Error(`study setting "${k}" cannot be overridden for a whole study; use one of ${OVERRIDABLE.join(', ')}`);
    }
  }
  const seeds = opts.seeds ?? 1;
  if (!Number.isInteger(seeds) || seeds < 1 || seeds > 20) throw new Error(`seeds must be a whole number from 1 to 20, got ${seeds}`);
  let variants = preset.variants(params);
  if (opts.variants?.length) {
    const unknown = opts.variants.filter((k) => !variants.some((v) => v.key === k));
    if (unknown.length) throw new Error(`preset ${preset.id} has no variant ${unknown.join(', ')} (it has ${variants.map((v) => v.key).join(', ')})`);
    variants = variants.filter((v) => opts.variants!.includes(v.key));
  }
  const baseSeed = (opts.overrides?.seed as number | undefined) ?? 1;
  const out: PlannedRun[] = [];
  for (const v of variants) {
    for (let k = 0; k < seeds; k++) {
      const seed = baseSeed + k;
      const label = seeds > 1 ? `${v.label} · seed ${seed}` : v.label;
      out.push({
        variant: v.key,
        label,
        seed,
        settings: {
          ...preset.base,
          ...opts.overrides,
          ...v.settings,
          seed,
          name: opts.name ? `${opts.name}: ${label}` : label,
        },
      });
    }
  }
  return out;
}

/**
 * Settings that reach training only through the model graph: a `norm: 'auto'` node takes the
 * norm settings, a `rate: 'auto'` dropout node the rate, a preset's conv bias and BN position
 * shape its nodes. On a model that has no such node they change nothing.
 */
export const GRAPH_ONLY_SETTINGS: readonly (keyof TrainSettings)[] = [
  'norm', 'ghostBatch', 'groups', 'bnPosition', 'bnConvention', 'bnMomentum', 'bnEps', 'convBias', 'dropout',
];

export interface DistinctPlan {
  runs: PlannedRun[];
  /** Why variants were left out (empty when none were). */
  notes: string[];
}

/**
 * A study's variants applied to the chosen model: a variant whose resolved graph and other
 * settings equal an earlier variant's (with the same seed) would train the same network again,
 * e.g. the dropout rates of the dropout preset on a model with no dropout node, so it is left
 * out with a note. When no two variants differ any more the study compares nothing: an Error
 * says which settings the model ignores and why.
 *
 * `resolved` gives a planned run's full settings and the graph it would train.
 */
export function distinctRuns(
  presetId: string,
  plan: PlannedRun[],
  resolved: (run: PlannedRun) => { settings: TrainSettings; graph: unknown },
  modelName: string,
): DistinctPlan {
  const keyOf = (r: PlannedRun) => {
    const { settings, graph } = resolved(r);
    const rest = Object.fromEntries(
      Object.entries(settings).filter(([k]) => k !== 'name' && !GRAPH_ONLY_SETTINGS.includes(k as keyof TrainSettings)).sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    return JSON.stringify([graph, rest]);
  };
  const first = new Map<string, PlannedRun>();
  const kept: PlannedRun[] = [];
  const same = new Map<string, string[]>(); // kept variant → variants that repeat it
  for (const r of plan) {
    const k = keyOf(r);
    const earlier = first.get(k);
    if (!earlier) {
      first.set(k, r);
      kept.push(r);
    } else if (earlier.variant !== r.variant) {
      const list = same.get(earlier.variant) ?? [];
      if (!list.includes(r.variant)) list.push(r.variant);
      same.set(earlier.variant, list);
    }
  }
  if (same.size === 0) return { runs: kept, notes: [] };
  // Per kept variant: the graph-only settings in which its repeats differ from it (what the model ignores).
  const byVariant = new Map(plan.map((r) => [r.variant, resolved(r).settings] as const));
  const ignoredBy = (v: string, dups: string[]) =>
    GRAPH_ONLY_SETTINGS.filter((k) => dups.some((d) => JSON.stringify(byVariant.get(d)![k]) !== JSON.stringify(byVariant.get(v)![k])));
  const why = (keys: readonly string[]) => `model ${modelName} has no node that follows ${keys.join(', ')} (no norm: 'auto' or rate: 'auto' placeholder there)`;
  const variants = new Set(plan.map((r) => r.variant));
  const keptVariants = new Set(kept.map((r) => r.variant));
  if (variants.size > 1 && keptVariants.size === 1) {
    const [v, dups] = [...same][0];
    throw new Error(
      `study ${presetId}: every variant would train the same network, because ${why(ignoredBy(v, dups))}. ` +
        "Choose a model whose norm/dropout nodes say 'auto' (every preset does; import-model makes batch norms 'auto' by default), or another study.",
    );
  }
  const notes = [...same].map(([v, dups]) => `variant${dups.length > 1 ? 's' : ''} ${dups.join(', ')} left out: ${dups.length > 1 ? 'they train' : 'it trains'} the same network as ${v}, because ${why(ignoredBy(v, dups))}`);
  return { runs: kept, notes };
}
