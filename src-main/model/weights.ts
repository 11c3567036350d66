/**
 * Weights by stable name, in tfjs layout: conv kernel [kh, kw, in/groups, out], dense kernel
 * [in, out]; names `${node}/kernel`, `${node}/bias`, `${norm}/gamma`, `${norm}/beta`,
 * `${norm}/running_mean`, `${norm}/running_var` (+ `${norm}/count` for cumulative BN).
 * Shared by the engines, the exporter and the store.
 */
export type NamedWeights = Record<string, { shape: number[]; data: Float32Array }>;
