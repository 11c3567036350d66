import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
// src-main/contract/settings.ts
const SETTINGS = [
	{
		key: "data",
		flag: "data",
		label: "Dataset",
		type: "text",
		default: "mnist-sample",
		maxLength: 4096,
		group: "data",
		key_setting: true,
		help: "mnist-sample (embedded, 10,000 real MNIST digits), fashion-mnist (Debian dataset-fashion-mnist), or a folder of IDX files."
	},
	{
		key: "epochs",
		flag: "epochs",
		label: "Epochs",
		type: "number",
		integer: true,
		min: 1,
		max: 1e3,
		default: 10,
		group: "run",
		key_setting: true,
		help: "Passes over the training split."
	},
	{
		key: "trainLimit",
		flag: "train-limit",
		label: "Train images",
		type: "number",
		integer: true,
		min: 0,
		max: 1e7,
		default: 0,
		group: "data",
		help: "Use only the first N training images (0 = all)."
	},
	{
		key: "testLimit",
		flag: "test-limit",
		label: "Test images",
		type: "number",
		integer: true,
		min: 0,
		max: 1e7,
		default: 0,
		group: "data",
		help: "Evaluate on the first N test images (0 = all)."
	},
	{
		key: "batch",
		flag: "batch",
		label: "Batch size",
		type: "number",
		integer: true,
		min: 1,
		max: 8192,
		default: 128,
		group: "optimizer",
		key_setting: true,
		help: "Images per optimizer step."
	},
	{
		key: "lr",
		flag: "lr",
		label: "Learning rate",
		type: "number",
		integer: false,
		min: 1e-6,
		max: 10,
		default: .05,
		log: true,
		group: "optimizer",
		key_setting: true,
		help: "Base learning rate (at batch 128 when linear scaling is on)."
	},
	{
		key: "linearScaling",
		flag: "linear-scaling",
		label: "Linear scaling rule",
		type: "boolean",
		default: false,
		group: "optimizer",
		help: "Multiply the learning rate by batch/128 (Goyal et al. 2017)."
	},
	{
		key: "optimizer",
		flag: "optimizer",
		label: "Optimizer",
		type: "choice",
		choices: [
			"sgd",
			"adam",
			"adamw"
		],
		default: "sgd",
		group: "optimizer",
		key_setting: true,
		help: "SGD with momentum, Adam, or AdamW (decoupled weight decay)."
	},
	{
		key: "momentum",
		flag: "momentum",
		label: "SGD momentum",
		type: "number",
		integer: false,
		min: 0,
		max: .999,
		default: .9,
		group: "optimizer",
		help: "Heavy-ball momentum for SGD (beta1 for Adam/AdamW)."
	},
	{
		key: "nesterov",
		flag: "nesterov",
		label: "Nesterov",
		type: "boolean",
		default: false,
		group: "optimizer",
		help: "Nesterov momentum (SGD only)."
	},
	{
		key: "schedule",
		flag: "schedule",
		label: "LR schedule",
		type: "choice",
		choices: [
			"constant",
			"step",
			"onecycle"
		],
		default: "constant",
		group: "optimizer",
		help: "constant, step decay (every N epochs by gamma), or one-cycle (warm-up then cosine down)."
	},
	{
		key: "stepEvery",
		flag: "step-every",
		label: "Step every (epochs)",
		type: "number",
		integer: true,
		min: 1,
		max: 1e3,
		default: 10,
		group: "optimizer",
		help: "Step schedule: decay period in epochs."
	},
	{
		key: "stepGamma",
		flag: "step-gamma",
		label: "Step gamma",
		type: "number",
		integer: false,
		min: .001,
		max: 1,
		default: .1,
		group: "optimizer",
		help: "Step schedule: multiply the learning rate by this at each step."
	},
	{
		key: "norm",
		flag: "norm",
		label: "Normalization",
		type: "choice",
		choices: [
			"batch",
			"ghost",
			"layer",
			"group",
			"none"
		],
		default: "batch",
		group: "normalization",
		key_setting: true,
		help: "Normalization after every 3x3 conv: batch, ghost (virtual batches), layer, group, or none."
	},
	{
		key: "ghostBatch",
		flag: "ghost-batch",
		label: "Ghost batch size",
		type: "number",
		integer: true,
		min: 1,
		max: 8192,
		default: 32,
		group: "normalization",
		help: "Ghost BN: images per virtual batch (each normalized with its own statistics)."
	},
	{
		key: "groups",
		flag: "groups",
		label: "Groups",
		type: "number",
		integer: true,
		min: 1,
		max: 16,
		default: 4,
		group: "normalization",
		help: "Group norm: number of channel groups (must divide every channel count: 8, 12, 16 → use 1, 2 or 4)."
	},
	{
		key: "bnPosition",
		flag: "bn-position",
		label: "Norm position",
		type: "choice",
		choices: ["before", "after"],
		default: "before",
		group: "normalization",
		help: "Normalize before the ReLU (Ioffe & Szegedy) or after it."
	},
	{
		key: "bnConvention",
		flag: "bn-convention",
		label: "Momentum convention",
		type: "choice",
		choices: ["pytorch", "keras"],
		default: "pytorch",
		group: "normalization",
		help: "pytorch: running = (1-m)·running + m·batch (m = 0.1). keras: running = m·running + (1-m)·batch (m = 0.99)."
	},
	{
		key: "bnMomentum",
		flag: "bn-momentum",
		label: "BN momentum",
		type: "number",
		integer: false,
		min: 0,
		max: 1,
		default: .1,
		nullable: true,
		group: "normalization",
		help: "Running-statistics momentum in the chosen convention; empty (CLI: \"null\") = cumulative average over all batches."
	},
	{
		key: "bnEps",
		flag: "bn-eps",
		label: "BN epsilon",
		type: "number",
		integer: false,
		min: 1e-12,
		max: 1,
		default: 1e-5,
		log: true,
		group: "normalization",
		help: "Added to the variance before the square root."
	},
	{
		key: "convBias",
		flag: "conv-bias",
		label: "Conv bias",
		type: "boolean",
		default: false,
		group: "normalization",
		help: "Give 3x3 convs a bias (with BN right after, the bias is subtracted out and only adds parameters)."
	},
	{
		key: "dropout",
		flag: "dropout",
		label: "Dropout",
		type: "number",
		integer: false,
		min: 0,
		max: .95,
		default: .05,
		group: "regularization",
		key_setting: true,
		help: "Inverted dropout rate after every 3x3 block (0 = off)."
	},
	{
		key: "l1",
		flag: "l1",
		label: "L1 λ",
		type: "number",
		integer: false,
		min: 0,
		max: 1,
		default: 0,
		group: "regularization",
		key_setting: true,
		help: "Adds λ·Σ|w| over conv/dense kernels to the loss."
	},
	{
		key: "l2",
		flag: "l2",
		label: "L2 λ",
		type: "number",
		integer: false,
		min: 0,
		max: 1,
		default: 0,
		group: "regularization",
		key_setting: true,
		help: "Adds λ·Σw² over conv/dense kernels to the loss."
	},
	{
		key: "weightDecay",
		flag: "weight-decay",
		label: "Weight decay",
		type: "number",
		integer: false,
		min: 0,
		max: 1,
		default: 0,
		group: "regularization",
		key_setting: true,
		help: "Decoupled weight decay: w ← w − lr·wd·w each step (SGDW / AdamW), not part of the loss."
	},
	{
		key: "penalizeAll",
		flag: "penalize-all",
		label: "Penalize γ, β and biases",
		type: "boolean",
		default: false,
		group: "regularization",
		help: "Apply L1/L2/decay to every parameter, not only conv/dense kernels."
	},
	{
		key: "clip",
		flag: "clip",
		label: "Gradient clipping",
		type: "choice",
		choices: [
			"none",
			"norm",
			"value"
		],
		default: "none",
		group: "regularization",
		help: "Clip the global gradient norm, or each gradient value, to the clip threshold."
	},
	{
		key: "clipValue",
		flag: "clip-value",
		label: "Clip threshold",
		type: "number",
		integer: false,
		min: 1e-6,
		max: 1e6,
		default: 1,
		group: "regularization",
		help: "Maximum global norm (clip=norm) or absolute value (clip=value)."
	},
	{
		key: "earlyStop",
		flag: "early-stop",
		label: "Early-stopping patience",
		type: "number",
		integer: true,
		min: 0,
		max: 1e3,
		default: 0,
		group: "regularization",
		help: "Stop after N epochs without a better test loss and restore the best weights (0 = off)."
	},
	{
		key: "augRotate",
		flag: "aug-rotate",
		label: "Rotate (°)",
		type: "number",
		integer: false,
		min: 0,
		max: 180,
		default: 0,
		group: "augmentation",
		help: "Random rotation in ±degrees."
	},
	{
		key: "augShift",
		flag: "aug-shift",
		label: "Shift (px)",
		type: "number",
		integer: true,
		min: 0,
		max: 14,
		default: 0,
		group: "augmentation",
		help: "Random translation in ±pixels."
	},
	{
		key: "augErase",
		flag: "aug-erase",
		label: "Random erasing p",
		type: "number",
		integer: false,
		min: 0,
		max: 1,
		default: 0,
		group: "augmentation",
		help: "Probability of erasing a random rectangle (Zhong et al. 2017)."
	},
	{
		key: "normalizeInput",
		flag: "normalize-input",
		label: "Normalize input",
		type: "boolean",
		default: true,
		group: "data",
		help: "Subtract the training split mean and divide by its std, per channel."
	},
	{
		key: "shuffle",
		flag: "shuffle",
		label: "Shuffle",
		type: "boolean",
		default: true,
		group: "data",
		help: "Reshuffle the training split every epoch (seeded)."
	},
	{
		key: "loss",
		flag: "loss",
		label: "Loss",
		type: "choice",
		choices: ["ce", "mse"],
		default: "ce",
		group: "optimizer",
		help: "Cross-entropy, or mean squared error between softmax and one-hot."
	},
	{
		key: "seed",
		flag: "seed",
		label: "Seed",
		type: "number",
		integer: true,
		min: 0,
		max: 2 ** 31 - 1,
		default: 1,
		group: "run",
		help: "Seeds initialization, shuffling, dropout and augmentation: same seed and backend, same curves."
	},
	{
		key: "bnRecordEvery",
		flag: "bn-record-every",
		label: "BN record every (steps)",
		type: "number",
		integer: true,
		min: 0,
		max: 1e5,
		default: 0,
		group: "normalization",
		help: "Record batch and running BN statistics every K steps (0 = automatic, about 200 records per run)."
	},
	{
		key: "engine",
		flag: "engine",
		label: "Training engine",
		type: "choice",
		choices: [
			"auto",
			"onnxruntime",
			"tfjs"
		],
		default: "auto",
		group: "run",
		help: "onnxruntime: each step runs as one ONNX graph (forward, loss, backward) on onnxruntime-node's native CPU kernels; tfjs: the tfjs backend (tfjs-node, else wasm). auto = onnxruntime when the model allows it (batch norm or none; not ghost, layer or group norm), else tfjs."
	},
	{
		key: "threads",
		flag: "threads",
		label: "CPU threads",
		type: "number",
		integer: true,
		min: 0,
		max: 256,
		default: 0,
		group: "run",
		help: "Threads for the onnxruntime engine (0 = one per core). The tfjs engine uses its backend's own setting."
	},
	{
		key: "name",
		flag: "name",
		label: "Run name",
		type: "text",
		default: "",
		maxLength: 200,
		group: "run",
		help: "Optional label shown in lists and legends."
	}
];
const DEFAULT_SETTINGS = Object.fromEntries(SETTINGS.map((f) => [f.key, f.default]));
/**
* Validates a partial settings object against the table and fills defaults.
* Pure so that the renderer form and the services share it.
*/
function resolveSettings(input) {
	const issues = [];
	const out = { ...DEFAULT_SETTINGS };
	const known = new Set(SETTINGS.map((f) => f.key));
	for (const k of Object.keys(input)) if (!known.has(k)) issues.push({
		key: k,
		message: `unknown setting "${k}"`
	});
	for (const f of SETTINGS) {
		if (!(f.key in input) || input[f.key] === void 0) continue;
		const v = input[f.key];
		const fail = (m) => issues.push({
			key: f.key,
			message: `${f.label} (${f.flag}): ${m}`
		});
		switch (f.type) {
			case "number":
				if (v === null && f.nullable) {
					out[f.key] = null;
					break;
				}
				if (typeof v !== "number" || !Number.isFinite(v)) {
					fail(`must be a number, got ${JSON.stringify(v)}`);
					break;
				}
				if (f.integer && !Number.isInteger(v)) {
					fail(`must be a whole number, got ${v}`);
					break;
				}
				if (v < f.min || v > f.max) {
					fail(`must be between ${f.min} and ${f.max}, got ${v}`);
					break;
				}
				out[f.key] = v;
				break;
			case "boolean":
				if (typeof v !== "boolean") {
					fail(`must be true or false, got ${JSON.stringify(v)}`);
					break;
				}
				out[f.key] = v;
				break;
			case "choice":
				if (typeof v !== "string" || !f.choices.includes(v)) {
					fail(`must be one of ${f.choices.join(", ")}, got ${JSON.stringify(v)}`);
					break;
				}
				out[f.key] = v;
				break;
			case "text":
				if (typeof v !== "string") {
					fail(`must be text, got ${JSON.stringify(v)}`);
					break;
				}
				if (v.length > f.maxLength) {
					fail(`must be at most ${f.maxLength} characters`);
					break;
				}
				out[f.key] = v;
		}
	}
	const s = out;
	if (issues.length === 0) {
		if (s.norm === "group") {
			for (const c of [
				8,
				16,
				12
			]) if (c % s.groups !== 0) {
				issues.push({
					key: "groups",
					message: `Groups (groups): ${s.groups} does not divide ${c} channels; use 1, 2 or 4`
				});
				break;
			}
		}
		if (s.norm === "ghost" && s.ghostBatch > s.batch) issues.push({
			key: "ghostBatch",
			message: `Ghost batch size (ghost-batch): ${s.ghostBatch} is larger than the batch size ${s.batch}`
		});
		if (s.bnConvention === "keras" && !("bnMomentum" in input)) s.bnMomentum = .99;
	}
	return issues.length ? {
		ok: false,
		issues
	} : {
		ok: true,
		value: s
	};
}
// src-main/engine/spec.ts
/**
* The S5 net (8.9k parameters with BN and no conv bias), the PyTorch twin of
* shared/reference/torch_reference.py:
* conv3×3 1→8, conv3×3 8→16, conv1×1 16→8, maxpool 2, conv3×3 8→12, conv3×3 12→16,
* conv3×3 16→16, conv3×3 16→16, GAP, dense 16→10.
* Every 3×3 conv: [bias], norm, ReLU, dropout (norm after ReLU when bnPosition = 'after').
*/
function s5Spec(o, input = [
	28,
	28,
	1
], classes = 10) {
	const layers = [];
	let inCh = input[2];
	let block = 0;
	const norm = (channels, name) => {
		switch (o.norm) {
			case "none": return null;
			case "batch": return {
				type: "norm",
				name,
				channels,
				norm: {
					kind: "batch",
					momentum: o.bnMomentum,
					eps: o.bnEps,
					convention: o.bnConvention
				}
			};
			case "ghost": return {
				type: "norm",
				name,
				channels,
				norm: {
					kind: "ghost",
					virtualBatch: o.ghostBatch,
					momentum: o.bnMomentum,
					eps: o.bnEps,
					convention: o.bnConvention
				}
			};
			case "layer": return {
				type: "norm",
				name,
				channels,
				norm: {
					kind: "layer",
					eps: o.bnEps
				}
			};
			case "group": return {
				type: "norm",
				name,
				channels,
				norm: {
					kind: "group",
					groups: o.groups,
					eps: o.bnEps
				}
			};
		}
	};
	const conv3 = (filters) => {
		block += 1;
		layers.push({
			type: "conv",
			name: `conv${block}`,
			filters,
			kernel: 3,
			inChannels: inCh,
			bias: o.convBias || o.norm === "none",
			padding: "valid"
		});
		const n = norm(filters, `norm${block}`);
		if (o.bnPosition === "before" && n) layers.push(n);
		layers.push({
			type: "relu",
			name: `relu${block}`
		});
		if (o.bnPosition === "after" && n) layers.push(n);
		if (o.dropout > 0) layers.push({
			type: "dropout",
			name: `drop${block}`,
			rate: o.dropout
		});
		inCh = filters;
	};
	conv3(8);
	conv3(16);
	layers.push({
		type: "conv",
		name: "trans1",
		filters: 8,
		kernel: 1,
		inChannels: inCh,
		bias: false,
		padding: "valid"
	});
	inCh = 8;
	layers.push({
		type: "maxpool",
		name: "pool1",
		size: 2
	});
	conv3(12);
	conv3(16);
	conv3(16);
	conv3(16);
	layers.push({
		type: "gap",
		name: "gap"
	});
	layers.push({
		type: "dense",
		name: "fc",
		units: classes,
		inUnits: inCh,
		bias: true
	});
	return {
		input,
		classes,
		layers
	};
}
// src-main/onnx/export.ts
/**
* ONNX exporter: ModelSpec + NamedWeights (tfjs layout, NHWC) → an ONNX ModelProto built with
* onnx-proto's protobufjs classes (never hand-written bytes).
*
* Graph contract (documented in the audit and the model's doc string):
* - input  `input`:  float32 [N, C, H, W] (NCHW, dynamic batch N). Pixels in [0, 1] when the input
*   normalization is baked in (Sub/Div at the front), otherwise already normalized with the
*   mean/std stored in the metadata.
* - output `probabilities`: float32 [N, classes], Softmax of the logits.
* - output `logits`:        float32 [N, classes].
*/
const { onnx: onnx$1 } = onnxProto;
/** A spec or option the exporter cannot turn into ONNX; the message names the layer. */
var ExportError = class extends Error {
	constructor(message) {
		super(message);
		this.name = "ExportError";
	}
};
/** The IR version that goes with an opset (onnx/helper.py VERSION_TABLE). */
function irVersionFor(opset) {
	if (opset <= 13) return 7;
	if (opset <= 18) return 8;
	if (opset <= 20) return 9;
	return 10;
}
/** Nodes and initializers of a graph under construction, with an audit line per node. */
var Graph = class {
	nodes = [];
	initializers = [];
	audit = [];
	initializerValues = 0;
	used = /* @__PURE__ */ new Set();
	unique(base) {
		let n = base;
		for (let i = 2; this.used.has(n); i++) n = `${base}_${i}`;
		this.used.add(n);
		return n;
	}
	float(name, dims, data) {
		if (dims.reduce((a, b) => a * b, 1) !== data.length) throw new ExportError(`internal: initializer ${name} has ${data.length} values for dims [${dims.join(", ")}]`);
		const n = this.unique(name);
		const copy = new Float32Array(data);
		this.initializers.push(onnx$1.TensorProto.create({
			name: n,
			dims,
			dataType: onnx$1.TensorProto.DataType.FLOAT,
			rawData: new Uint8Array(copy.buffer)
		}));
		this.initializerValues += data.length;
		return n;
	}
	int64(name, values) {
		const n = this.unique(name);
		const buf = new BigInt64Array(values.map((v) => BigInt(v)));
		this.initializers.push(onnx$1.TensorProto.create({
			name: n,
			dims: [values.length],
			dataType: onnx$1.TensorProto.DataType.INT64,
			rawData: new Uint8Array(buf.buffer)
		}));
		return n;
	}
	node(op, layer, inputs, shape, attrs = [], note, outputName) {
		return this.nodeOutputs(op, layer, inputs, shape, attrs, note, [outputName])[0];
	}
	/** A node with several outputs; `outputNames[i]` fixes the name of output i (else a unique one). */
	nodeOutputs(op, layer, inputs, shape, attrs, note, outputNames) {
		const name = this.unique(`${layer}/${op}`);
		const outs = outputNames.map((o, i) => o ?? this.unique(`${layer}/${op}:out${i || ""}`));
		for (const o of outputNames) if (o) this.used.add(o);
		const attribute = attrs.map((a) => {
			const T = onnx$1.AttributeProto.AttributeType;
			if (a.ints) return onnx$1.AttributeProto.create({
				name: a.name,
				type: T.INTS,
				ints: a.ints
			});
			if (a.floats) return onnx$1.AttributeProto.create({
				name: a.name,
				type: T.FLOATS,
				floats: a.floats
			});
			if (a.f !== void 0) return onnx$1.AttributeProto.create({
				name: a.name,
				type: T.FLOAT,
				f: a.f
			});
			if (a.s !== void 0) return onnx$1.AttributeProto.create({
				name: a.name,
				type: T.STRING,
				s: new TextEncoder().encode(a.s)
			});
			return onnx$1.AttributeProto.create({
				name: a.name,
				type: T.INT,
				i: a.i ?? 0
			});
		});
		this.nodes.push(onnx$1.NodeProto.create({
			name,
			opType: op,
			input: inputs,
			output: outs,
			attribute
		}));
		const shown = {};
		for (const a of attrs) if (a.s === void 0) shown[a.name] = a.ints ?? a.floats ?? a.f ?? a.i ?? 0;
		this.audit.push({
			name,
			op,
			layer,
			outputShape: shape.map(String),
			attributes: shown,
			...note ? { note } : {}
		});
		return outs;
	}
};
/** A float32 tensor type; string dims are symbolic (e.g. 'N'). */
function tensorType(dims) {
	return onnx$1.TypeProto.create({ tensorType: onnx$1.TypeProto.Tensor.create({
		elemType: onnx$1.TensorProto.DataType.FLOAT,
		shape: onnx$1.TensorShapeProto.create({ dim: dims.map((d) => typeof d === "string" ? onnx$1.TensorShapeProto.Dimension.create({ dimParam: d }) : onnx$1.TensorShapeProto.Dimension.create({ dimValue: d })) })
	}) });
}
// src-main/onnx/train-graph.ts
/**
* A whole training step as one ONNX graph, run by onnxruntime-node's native CPU kernels (MLAS):
* forward pass in training mode, loss, and the backward pass written out op by op.
*
* Inputs : `x` [N, C, H, W] (normalized), `onehot` [N, K], `inv_n` [1] = 1/N, every trainable
*          parameter under its stable name (conv kernels OIHW, dense kernels [in, out] as in tfjs),
*          one `mask:<layer>` [N, C, H, W] per dropout layer (0 or 1/(1−p), drawn by the caller).
* Outputs: `loss` [] (mean data loss), `logits` [N, K], `grad:<param>` per parameter (same layout
*          as its input), `mean:<bn>` and `var:<bn>` [C] per batch norm (batch mean, biased variance).
*
* Backward rules (stride-1 convolutions, as every NormLab spec has):
*   conv   dX = ConvTranspose(dY, W) with the forward pads; dW = Conv(Xᵀ, dYᵀ) with N as the channel
*          axis (ᵀ swaps N and C), transposed back; db = Σ dY over N, H, W
*   BN     dγ = Σ dY·x̂, dβ = Σ dY, dX = γ/σ · (dY − dβ/M − x̂·dγ/M), M = N·H·W
*   ReLU   dX = dY · sign(Y)          dropout  dX = dY · mask
*   max-pool  dX = MaxUnpool(dY, argmax indices)  (non-overlapping windows)
*   GAP    dX = dY / (H·W) broadcast   dense  dX = dY·Wᵀ, dW = Xᵀ·dY, db = Σ dY
* Batch norm updates of the running statistics happen in the caller with the returned batch
* statistics, under the same convention code as the tfjs engine.
*/
const { onnx } = onnxProto;
const OPSET = 17;
/**
* Why a spec cannot train through the ONNX graph, or null when it can. Ghost batch norm, layer
* and group norm and a dense layer on an unpooled image train on tfjs instead.
*/
function trainGraphUnsupported(spec, loss) {
	if (loss !== "ce" && loss !== "mse") return `loss ${loss}`;
	let flat = false;
	let h = spec.input[0];
	let w = spec.input[1];
	for (const l of spec.layers) {
		if (l.type === "norm" && l.norm.kind !== "batch") return `${l.norm.kind} norm (layer ${l.name})`;
		if (l.type === "dense" && !flat && (h !== 1 || w !== 1)) return `dense layer ${l.name} on an unpooled image`;
		if (flat && l.type !== "dense" && l.type !== "relu" && l.type !== "dropout") return `layer ${l.name} after pooling`;
		if (l.type === "conv" && l.padding === "valid") {
			h -= l.kernel - 1;
			w -= l.kernel - 1;
		}
		if (l.type === "maxpool") {
			h = Math.floor(h / l.size);
			w = Math.floor(w / l.size);
		}
		if (l.type === "gap" || l.type === "dense") flat = true;
	}
	return null;
}
/** Builds the training-step graph of a spec. Throws when trainGraphUnsupported says so. */
function buildTrainGraph(spec, loss) {
	const why = trainGraphUnsupported(spec, loss);
	if (why) throw new Error(`the ONNX training graph cannot express ${why}`);
	const g = new Graph();
	const [H0, W0, C0] = spec.input;
	const K = spec.classes;
	const inputs = [
		onnx.ValueInfoProto.create({
			name: "x",
			type: tensorType([
				"N",
				C0,
				H0,
				W0
			])
		}),
		onnx.ValueInfoProto.create({
			name: "onehot",
			type: tensorType(["N", K])
		}),
		onnx.ValueInfoProto.create({
			name: "inv_n",
			type: tensorType([1])
		})
	];
	const outputs = [onnx.ValueInfoProto.create({
		name: "loss",
		type: tensorType([])
	}), onnx.ValueInfoProto.create({
		name: "logits",
		type: tensorType(["N", K])
	})];
	const params = [];
	const dropouts = [];
	const batchNorms = [];
	const addParam = (p) => {
		params.push(p);
		inputs.push(onnx.ValueInfoProto.create({
			name: p.name,
			type: tensorType(p.shape)
		}));
		outputs.push(onnx.ValueInfoProto.create({
			name: `grad:${p.name}`,
			type: tensorType(p.shape)
		}));
		return p.name;
	};
	const scalar = (name, v) => g.float(name, [], new Float32Array([v]));
	const ints = (name, v) => g.int64(name, v);
	const channelShape = ints("shape_1c11", [
		1,
		-1,
		1,
		1
	]);
	const n = (op, layer, ins, attrs = [], out) => g.node(op, layer, ins, [], attrs, void 0, out);
	const saved = [];
	let t = "x";
	let [c, h, w] = [
		C0,
		H0,
		W0
	];
	spec.layers.forEach((l, i) => {
		const x = t;
		const extra = {};
		const chwIn = [
			c,
			h,
			w
		];
		switch (l.type) {
			case "conv": {
				const k = l.kernel;
				const pads = l.padding === "same" ? [
					Math.floor((k - 1) / 2),
					Math.floor((k - 1) / 2),
					Math.ceil((k - 1) / 2),
					Math.ceil((k - 1) / 2)
				] : [
					0,
					0,
					0,
					0
				];
				const W = addParam({
					name: `${l.name}/kernel`,
					shape: [
						l.filters,
						l.inChannels,
						k,
						k
					],
					hwio: [
						k,
						k,
						l.inChannels,
						l.filters
					]
				});
				const ins = [x, W];
				if (l.bias) ins.push(addParam({
					name: `${l.name}/bias`,
					shape: [l.filters]
				}));
				t = n("Conv", l.name, ins, [{
					name: "pads",
					ints: pads
				}]);
				extra.W = W;
				extra.pads = pads.join(",");
				if (l.padding === "valid") {
					h -= k - 1;
					w -= k - 1;
				}
				c = l.filters;
				break;
			}
			case "norm": {
				const gamma = addParam({
					name: `${l.name}/gamma`,
					shape: [c]
				});
				const beta = addParam({
					name: `${l.name}/beta`,
					shape: [c]
				});
				const axes = [{
					name: "axes",
					ints: [
						0,
						2,
						3
					]
				}];
				const mean = n("ReduceMean", l.name, [x], axes);
				const xc = n("Sub", l.name, [x, mean]);
				const variance = n("ReduceMean", l.name, [n("Mul", l.name, [xc, xc])], axes);
				const inv = n("Reciprocal", l.name, [n("Sqrt", l.name, [n("Add", l.name, [variance, scalar(`${l.name}/eps`, l.norm.eps)])])]);
				const xhat = n("Mul", l.name, [xc, inv]);
				const gr = n("Reshape", l.name, [gamma, channelShape]);
				t = n("Add", l.name, [n("Mul", l.name, [xhat, gr]), n("Reshape", l.name, [beta, channelShape])]);
				const flatC = ints(`${l.name}/shape_c`, [c]);
				n("Reshape", l.name, [mean, flatC], [], `mean:${l.name}`);
				n("Reshape", l.name, [variance, flatC], [], `var:${l.name}`);
				outputs.push(onnx.ValueInfoProto.create({
					name: `mean:${l.name}`,
					type: tensorType([c])
				}));
				outputs.push(onnx.ValueInfoProto.create({
					name: `var:${l.name}`,
					type: tensorType([c])
				}));
				batchNorms.push({
					name: l.name,
					channels: c,
					perImage: h * w
				});
				Object.assign(extra, {
					xhat,
					inv,
					gr
				});
				break;
			}
			case "relu":
				t = n("Relu", l.name, [x]);
				break;
			case "dropout":
				if (l.rate > 0) {
					const mask = `mask:${l.name}`;
					inputs.push(onnx.ValueInfoProto.create({
						name: mask,
						type: tensorType([
							"N",
							c,
							h,
							w
						])
					}));
					dropouts.push({
						name: l.name,
						index: i,
						rate: l.rate,
						chw: [
							c,
							h,
							w
						]
					});
					t = n("Mul", l.name, [x, mask]);
					extra.mask = mask;
				}
				break;
			case "maxpool": {
				const s = l.size;
				const [y, idx] = g.nodeOutputs("MaxPool", l.name, [x], [], [{
					name: "kernel_shape",
					ints: [s, s]
				}, {
					name: "strides",
					ints: [s, s]
				}], void 0, [void 0, void 0]);
				t = y;
				extra.idx = idx;
				h = Math.floor(h / s);
				w = Math.floor(w / s);
				break;
			}
			case "gap":
				t = n("ReduceMean", l.name, [x], [{
					name: "axes",
					ints: [2, 3]
				}, {
					name: "keepdims",
					i: 0
				}]);
				extra.area = String(h * w);
				h = 1;
				w = 1;
				break;
			case "dense": {
				const W = addParam({
					name: `${l.name}/kernel`,
					shape: [l.inUnits, l.units]
				});
				const ins = [x, W];
				if (l.bias) ins.push(addParam({
					name: `${l.name}/bias`,
					shape: [l.units]
				}));
				t = n("Gemm", l.name, ins);
				extra.W = W;
				c = l.units;
				break;
			}
		}
		saved.push({
			layer: i,
			x,
			y: t,
			extra,
			chw: chwIn
		});
	});
	const logits = n("Identity", "loss", [t], [], "logits");
	const invN = "inv_n";
	const probs = n("Softmax", "loss", [logits], [{
		name: "axis",
		i: 1
	}]);
	let grad;
	if (loss === "ce") {
		const lse = n("ReduceLogSumExp", "loss", [logits], [{
			name: "axes",
			ints: [1]
		}, {
			name: "keepdims",
			i: 1
		}]);
		n("Mul", "loss", [n("Neg", "loss", [n("ReduceSum", "loss", [n("Mul", "loss", [g.node("Sub", "loss", [logits, lse], []), "onehot"])], [{
			name: "keepdims",
			i: 0
		}])]), n("Reshape", "loss", [invN, ints("shape_scalar", [])])], [], "loss");
		grad = n("Mul", "loss", [n("Sub", "loss", [probs, "onehot"]), invN]);
	} else {
		const d = n("Sub", "loss", [probs, "onehot"]);
		const scale = n("Mul", "loss", [invN, scalar("inv_k", 1 / K)]);
		n("Mul", "loss", [n("ReduceSum", "loss", [n("Mul", "loss", [d, d])], [{
			name: "keepdims",
			i: 0
		}]), n("Reshape", "loss", [scale, ints("shape_scalar", [])])], [], "loss");
		const dp = n("Mul", "loss", [d, n("Mul", "loss", [scale, scalar("two", 2)])]);
		grad = n("Mul", "loss", [probs, n("Sub", "loss", [dp, n("ReduceSum", "loss", [n("Mul", "loss", [dp, probs]), ints("axis_1", [1])], [{
			name: "keepdims",
			i: 1
		}])])]);
	}
	const nhwAxes = ints("axes_nhw", [
		0,
		2,
		3
	]);
	const swapNC = [{
		name: "perm",
		ints: [
			1,
			0,
			2,
			3
		]
	}];
	for (let j = saved.length - 1; j >= 0; j--) {
		const s = saved[j];
		const l = spec.layers[s.layer];
		const needInput = s.x !== "x";
		switch (l.type) {
			case "dense":
				n("Gemm", l.name, [s.x, grad], [{
					name: "transA",
					i: 1
				}], `grad:${l.name}/kernel`);
				if (l.bias) n("ReduceSum", l.name, [grad, ints(`${l.name}/axis0`, [0])], [{
					name: "keepdims",
					i: 0
				}], `grad:${l.name}/bias`);
				if (needInput) grad = n("Gemm", l.name, [grad, s.extra.W], [{
					name: "transB",
					i: 1
				}]);
				break;
			case "gap": {
				const g4 = n("Reshape", l.name, [grad, ints(`${l.name}/shape_nc11`, [
					0,
					0,
					1,
					1
				])]);
				grad = n("Expand", l.name, [n("Mul", l.name, [g4, scalar(`${l.name}/inv_area`, 1 / Number(s.extra.area))]), n("Shape", l.name, [s.x])]);
				break;
			}
			case "maxpool": {
				const sz = l.size;
				grad = n("MaxUnpool", l.name, [
					grad,
					s.extra.idx,
					n("Shape", l.name, [s.x])
				], [{
					name: "kernel_shape",
					ints: [sz, sz]
				}, {
					name: "strides",
					ints: [sz, sz]
				}]);
				break;
			}
			case "dropout":
				if (s.extra.mask) grad = n("Mul", l.name, [grad, s.extra.mask]);
				break;
			case "relu":
				grad = process.env.NORMLAB_RELU === "where" ? n("Where", l.name, [
					n("Greater", l.name, [s.y, scalar(`${l.name}/zero`, 0)]),
					grad,
					scalar(`${l.name}/zero_g`, 0)
				]) : n("Mul", l.name, [grad, n("Sign", l.name, [s.y])]);
				break;
			case "norm": {
				const keep = [{
					name: "keepdims",
					i: 0
				}];
				const dbeta = n("ReduceSum", l.name, [grad, nhwAxes], keep, `grad:${l.name}/beta`);
				const dgamma = n("ReduceSum", l.name, [n("Mul", l.name, [grad, s.extra.xhat]), nhwAxes], keep, `grad:${l.name}/gamma`);
				if (!needInput) break;
				const invM = n("Mul", l.name, [invN, scalar(`${l.name}/inv_hw`, 1 / (s.chw[1] * s.chw[2]))]);
				const b4 = n("Mul", l.name, [n("Reshape", l.name, [dbeta, channelShape]), invM]);
				const g4 = n("Mul", l.name, [n("Reshape", l.name, [dgamma, channelShape]), invM]);
				const inner = n("Sub", l.name, [n("Sub", l.name, [grad, b4]), n("Mul", l.name, [s.extra.xhat, g4])]);
				grad = n("Mul", l.name, [inner, n("Mul", l.name, [s.extra.gr, s.extra.inv])]);
				break;
			}
			case "conv": {
				const pads = s.extra.pads.split(",").map(Number);
				if (l.bias) n("ReduceSum", l.name, [grad, nhwAxes], [{
					name: "keepdims",
					i: 0
				}], `grad:${l.name}/bias`);
				const k = l.kernel;
				const [cin, hin, win] = s.chw;
				const [hp, wp] = [hin + pads[0] + pads[2], win + pads[1] + pads[3]];
				const [ho, wo] = [hp - k + 1, wp - k + 1];
				const maxOff = (k - 1) * wp + (k - 1);
				let xt = n("Transpose", l.name, [s.x], swapNC);
				if (pads.some((p) => p > 0)) xt = n("Pad", l.name, [xt, ints(`${l.name}/pads_x`, [
					0,
					0,
					pads[0],
					pads[1],
					0,
					0,
					pads[2],
					pads[3]
				])]);
				const xf = n("Reshape", l.name, [xt, ints(`${l.name}/shape_cin_flat`, [cin, -1])]);
				let gt = n("Transpose", l.name, [grad], swapNC);
				if (ho !== hp || wo !== wp) gt = n("Pad", l.name, [gt, ints(`${l.name}/pads_dy`, [
					0,
					0,
					0,
					0,
					0,
					0,
					hp - ho,
					wp - wo
				])]);
				const gf = n("Reshape", l.name, [gt, ints(`${l.name}/shape_cout_flat`, [l.filters, -1])]);
				const shifted = [];
				let gL = gf;
				if (maxOff === 0) shifted.push(xf);
				else {
					const len = n("Sub", l.name, [n("Shape", l.name, [xf], [{
						name: "start",
						i: 1
					}]), ints(`${l.name}/max_off`, [maxOff])]);
					const axis1 = ints(`${l.name}/axis1`, [1]);
					gL = n("Slice", l.name, [
						gf,
						ints(`${l.name}/zero`, [0]),
						len,
						axis1
					]);
					for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
						const st = ints(`${l.name}/off${a}_${b}`, [a * wp + b]);
						shifted.push(n("Slice", l.name, [
							xf,
							st,
							n("Add", l.name, [len, st]),
							axis1
						]));
					}
				}
				let dw;
				if (process.env.NORMLAB_DW9 === "1" && shifted.length > 1) dw = n("Concat", l.name, shifted.map((sh) => n("Gemm", l.name, [gL, sh], [{
					name: "transB",
					i: 1
				}])), [{
					name: "axis",
					i: 1
				}]);
				else {
					const cols = shifted.length === 1 ? shifted[0] : n("Concat", l.name, shifted, [{
						name: "axis",
						i: 0
					}]);
					dw = n("Gemm", l.name, [gL, cols], [{
						name: "transB",
						i: 1
					}]);
				}
				const dw4 = n("Reshape", l.name, [dw, ints(`${l.name}/shape_okkc`, [
					l.filters,
					k,
					k,
					cin
				])]);
				n("Transpose", l.name, [dw4], [{
					name: "perm",
					ints: [
						0,
						3,
						1,
						2
					]
				}], `grad:${l.name}/kernel`);
				if (needInput) grad = n("ConvTranspose", l.name, [grad, s.extra.W], [{
					name: "pads",
					ints: pads
				}]);
				break;
			}
		}
	}
	const model = onnx.ModelProto.create({
		irVersion: irVersionFor(OPSET),
		opsetImport: [onnx.OperatorSetIdProto.create({
			domain: "",
			version: OPSET
		})],
		producerName: "normlab",
		docString: "NormLab training step: forward, loss and backward of one batch",
		graph: onnx.GraphProto.create({
			name: "normlab_train_step",
			node: g.nodes,
			initializer: g.initializers,
			input: inputs,
			output: outputs
		})
	});
	return {
		bytes: onnx.ModelProto.encode(model).finish(),
		params,
		dropouts,
		batchNorms
	};
}
// ../../tmp/proto/proto.ts
const threads = Number(process.argv[2] ?? 1);
const r = resolveSettings({ dropout: .05 });
if (!r.ok) throw new Error("settings");
const tg = buildTrainGraph(s5Spec(r.value), "ce");
const sess = await ort.InferenceSession.create(tg.bytes, {
	intraOpNumThreads: Number(process.env.INTRA ?? threads),
	interOpNumThreads: Number(process.env.INTER ?? 1),
	executionMode: process.env.MODE ?? "sequential",
	graphOptimizationLevel: "all",
	enableProfiling: process.env.PROF === "1",
	profileFilePrefix: "/tmp/proto/prof"
});
const N = 128;
const feeds = {};
const x = new Float32Array(N * 784);
for (let i = 0; i < x.length; i++) x[i] = Math.random() * 2 - 1;
feeds.x = new ort.Tensor("float32", x, [
	N,
	1,
	28,
	28
]);
const oh = /* @__PURE__ */ new Float32Array(1280);
for (let i = 0; i < N; i++) oh[i * 10 + i % 10] = 1;
feeds.onehot = new ort.Tensor("float32", oh, [N, 10]);
feeds.inv_n = new ort.Tensor("float32", new Float32Array([1 / N]), [1]);
for (const p of tg.params) {
	const d = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
	for (let i = 0; i < d.length; i++) d[i] = p.name.endsWith("gamma") ? 1 : (Math.random() - .5) * .3;
	feeds[p.name] = new ort.Tensor("float32", d, p.shape);
}
for (const d of tg.dropouts) {
	const m = new Float32Array(N * d.chw[0] * d.chw[1] * d.chw[2]);
	for (let i = 0; i < m.length; i++) m[i] = Math.random() < d.rate ? 0 : 1 / (1 - d.rate);
	feeds[`mask:${d.name}`] = new ort.Tensor("float32", m, [N, ...d.chw]);
}
let out = await sess.run(feeds);
console.log("loss", out.loss.data, Object.keys(out).length);
for (let k = 0; k < 3; k++) await sess.run(feeds);
const t0 = performance.now();
const R = 20;
for (let k = 0; k < R; k++) out = await sess.run(feeds);
const ms = (performance.now() - t0) / R;
console.log(`threads ${threads}: ${ms.toFixed(1)} ms/step, ${(N / ms * 1e3).toFixed(0)} img/s`);
if (process.env.PROF === "1") sess.endProfiling();
export {};
