/**
 * The ONNX training-step lowering of every layer kind (forward, and its backward as a closure),
 * typed `Record<NodeOp, …>`: a kind without one is a compile error.
 */
import type { NodeOp } from '../../contract/model-graph';
import type { TrainLowering } from './builder';
import { conv2d } from './conv2d';
import { norm } from './norm';
import { leakyRelu, relu } from './activations';
import { dropout, dropout2d } from './dropout';
import { avgpool, gap, maxpool } from './pool';
import { dense, flatten } from './dense';
import { add, concat } from './merge';

export const TRAIN_OPS: { [K in NodeOp]: TrainLowering<K> } = {
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
