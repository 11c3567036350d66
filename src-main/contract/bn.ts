/**
 * BN inspector: request/response types, plus the momentum translator (a pure function the view
 * and the CLI share; no imports).
 */

/** Per-channel mean and variance of one BN layer. */
export interface BnMoments {
  mean: number[];
  var: number[];
}

/** One BN layer as the inspector describes it. */
export interface BnLayerInfo {
  name: string;
  kind: 'batch' | 'ghost';
  channels: number;
  /** Spatial size [h, w] of the layer's input: every position of every image is one sample. */
  spatial: [number, number];
  convention: 'pytorch' | 'keras';
  /** As stated in the run's convention; null = cumulative average. */
  momentum: number | null;
  virtualBatch?: number;
  eps: number;
}

/** Accuracy and loss of one way of normalizing at test time. */
export interface BnAccuracyRow {
  /** 'running' | 'population' | 'population-one-pass' | 'batch' */
  mode: string;
  label: string;
  /** Test batch size for batch statistics (null for running/population, which do not depend on it). */
  batchSize: number | null;
  acc: number;
  loss: number;
  images: number;
  /** Batch statistics: channels × batches whose batch variance was exactly 0 (those output β). */
  zeroVarChannels?: number;
  note?: string;
}

/** Spread of per-virtual-batch statistics at one virtual batch size (ghost BN view). */
export interface BnGhostSpread {
  virtualBatch: number;
  batches: number;
  layers: Record<string, {
    /** Per channel: std over virtual batches of the virtual-batch mean, in units of the population std. */
    meanSpread: number[];
    /** Per channel: std over virtual batches of the virtual-batch (biased) variance, relative to the population variance. */
    varSpread: number[];
  }>;
}

/** Lag of the running estimate behind the network, per epoch and layer (in population-std units). */
export interface BnLagPoint {
  epoch: number;
  step: number;
  /** 'records': reference = pooled batch statistics recorded during that epoch; 'checkpoint:<tag>': exact population statistics. */
  source: string;
  layers: Record<string, { meanLag: number; varLogRatio: number }>;
}

/** Replay of the recorded batch statistics through the momentum formula. */
export interface BnTimelineCheck {
  /** False when records were not taken every step (the formula needs every batch) or the layers are ghost BN. */
  possible: boolean;
  reason: string;
  /** Max |replayed − recorded| over layers, channels and steps. */
  maxAbsErrMean?: number;
  maxAbsErrVar?: number;
  steps?: number;
}

export interface BnTimeline {
  runId: string;
  hasBn: boolean;
  message: string;
  layers: BnLayerInfo[];
  steps: number[];
  epochs: number[];
  /** layer → per record: running/batch mean and variance per channel (records × channels, row-major). */
  series: Record<string, { runningMean: number[][]; runningVar: number[][]; batchMean: number[][]; batchVar: number[][] }>;
  /** Records per epoch are taken every `interval` steps (estimated from the records). */
  interval: number;
  /** Records kept of those stored (evenly thinned to `maxRecords`). */
  kept: number;
  stored: number;
}

export interface BnReport {
  runId: string;
  hasBn: boolean;
  message: string;
  checkpoint: string;
  epoch: number;
  layers: BnLayerInfo[];
  /** Images of the training split the population statistics were computed over. */
  populationImages: number;
  testImages: number;
  /**
   * How the population statistics were computed: sequentially, layer by layer, each layer's input
   * taken with every upstream BN layer already using ITS population statistics (so the
   * recalibrated network is self-consistent).
   */
  method: string;
  /** Per layer: running (checkpoint), population (sequential), one-pass population (upstream running), last recorded batch. */
  stats: Record<string, { running: BnMoments; population: BnMoments; populationOnePass: BnMoments; lastBatch: BnMoments | null }>;
  accuracy: BnAccuracyRow[];
  /** Train-mode vs eval-mode on training images. */
  gap: { trainMode: BnAccuracyRow; batchStatsNoDropout: BnAccuracyRow; evalMode: BnAccuracyRow; lossGap: number; accGap: number };
  ghost: BnGhostSpread[];
  lag: BnLagPoint[];
  timelineCheck: BnTimelineCheck;
  momentum: MomentumTranslation;
  recalibrated?: { checkpoint: string; accBefore: number; accAfter: number; lossBefore: number; lossAfter: number };
  seconds: number;
}

export interface BnInspectRequest {
  id: string;
  /** Training images for the population statistics (0 = the run's whole training split). */
  limit?: number;
  /** Test images (0 = the run's test split as trained). */
  testLimit?: number;
  batchSizes?: number[];
  /** Checkpoint to inspect (default 'last'). */
  checkpoint?: string;
  /** Write checkpoint 'recalibrated' with population statistics. */
  recalibrate?: boolean;
}

export interface BnApi {
  'bn.timeline': { req: { id: string; maxRecords?: number }; res: BnTimeline };
  'bn.inspect': { req: BnInspectRequest; res: BnReport };
}

/** One momentum setting stated in every framework's terms. */
export interface MomentumTranslation {
  cumulative: boolean;
  /** Weight on the NEW batch value (PyTorch's momentum); null = cumulative. */
  pytorch: number | null;
  /** Weight on the OLD running value (Keras / TF.js BatchNormalization momentum); null = no equivalent. */
  keras: number | null;
  /** ONNX BatchNormalization's momentum attribute (follows Keras: weight on the old value). */
  onnx: number | null;
  /** Steps for a batch's weight in the running estimate to halve (null for cumulative). */
  halfLifeSteps: number | null;
  lines: string[];
}

const fmt = (x: number) => String(Number(x.toPrecision(6)));

/**
 * States a BN momentum in PyTorch, Keras/TF.js and ONNX terms. PyTorch weights the new batch
 * (running = (1−m)·running + m·batch); Keras and ONNX weight the old value
 * (running = m·running + (1−m)·batch): PyTorch 0.1 = Keras 0.9, Keras 0.99 = PyTorch 0.01.
 * `momentum: null` is PyTorch's cumulative average (momentum=None), which Keras and ONNX cannot state.
 */
export function translateMomentum(convention: 'pytorch' | 'keras' | 'onnx', momentum: number | null): MomentumTranslation {
  if (momentum !== null && !(momentum >= 0 && momentum <= 1)) {
    throw new Error(`momentum must be in [0, 1] or null (cumulative), got ${momentum}`);
  }
  if (momentum === null) {
    return {
      cumulative: true, pytorch: null, keras: null, onnx: null, halfLifeSteps: null,
      lines: [
        'PyTorch: momentum=None — cumulative average, running = running + (batch − running)/k for the k-th batch',
        'Keras / TF.js: no equivalent (momentum is a fixed weight on the old value)',
        'ONNX: no equivalent (the momentum attribute is a fixed weight on the old value)',
      ],
    };
  }
  const pytorch = convention === 'pytorch' ? momentum : 1 - momentum;
  const keras = 1 - pytorch;
  const halfLife = pytorch > 0 && pytorch < 1 ? Math.log(0.5) / Math.log(1 - pytorch) : null;
  return {
    cumulative: false, pytorch: Number(fmt(pytorch)), keras: Number(fmt(keras)), onnx: Number(fmt(keras)),
    halfLifeSteps: halfLife === null ? null : Number(halfLife.toPrecision(4)),
    lines: [
      `PyTorch: momentum=${fmt(pytorch)} — running = ${fmt(1 - pytorch)}·running + ${fmt(pytorch)}·batch (weight on the new batch)`,
      `Keras / TF.js: momentum=${fmt(keras)} — running = ${fmt(keras)}·running + ${fmt(1 - keras)}·batch (weight on the old value)`,
      `ONNX BatchNormalization: momentum=${fmt(keras)} (follows Keras: weight on the old value)`,
      halfLife === null ? 'half-life: —' : `a batch's weight halves every ${halfLife.toPrecision(3)} steps (≈ ${fmt(1 / pytorch)}-step window)`,
    ],
  };
}

/**
 * Whether a run has batch or ghost norm nodes (something for the BN inspector): the graph it
 * trained decides when it is recorded (a model file's fixed norm nodes ignore the norm setting),
 * else its norm setting.
 */
export function runHasBn(run: { settings: { norm: string }; model?: { nodes: readonly { op: string; norm?: unknown }[] } }): boolean {
  if (run.model) {
    return run.model.nodes.some((n) => n.op === 'norm' && typeof n.norm === 'object' && n.norm !== null && ['batch', 'ghost'].includes((n.norm as { kind?: string }).kind ?? ''));
  }
  return run.settings.norm === 'batch' || run.settings.norm === 'ghost';
}
