/**
 * The layer table: one entry per kind, checked by the compiler against NodeOp (a missing or
 * extra kind is a type error). Engines keep their own lowering tables with the same key type.
 */
import type { NodeOp } from '../contract/model-graph';
import type { OpDef } from './op';
import { conv2d } from './ops/conv2d';
import { norm } from './ops/norm';
import { leakyRelu, relu } from './ops/activations';
import { dropout, dropout2d } from './ops/dropout';
import { avgpool, gap, maxpool } from './ops/pool';
import { dense, flatten } from './ops/dense';
import { add, concat } from './ops/merge';

export const OPS: { [K in NodeOp]: OpDef<K> } = {
  conv2d,
  norm,
  relu,
  leaky_relu: leakyRelu,
  dropout,
  dropout2d,
  maxpool,
  avgpool,
  gap,
  flatten,
  dense,
  add,
  concat,
};
