/**
 * The model room: layer kinds as data. Imports only contract/; engine/ and onnx/ lower from here.
 */
export type { Shape, ParamSpec, StateSpec, ParamKind, Init, OpDef, NodeOf } from './op';
export { OPS } from './table';
export { validateGraph, assertValidGraph, inferShapes, paramSpecs, stateSpecs, countParams, summarize, consumers, outputName, opDef, describeIssue, ModelGraphError } from './graph';
export { resolveGraph, normFromSettings, isResolved, type GraphSettings } from './resolve';
export { presetGraph, isPreset, type PresetSettings } from './presets';
export { initialValue, initialState, hashName, nameSeed, INIT_STREAM } from './init';
export { convGeometry } from './ops/conv2d';
export { poolGeometry } from './ops/pool';
export { hasRunningStats } from './ops/norm';
export type { NamedWeights } from './weights';
