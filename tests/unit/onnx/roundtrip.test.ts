/**
 * Round trip with PyTorch (issue 16 item 7), the part that needs no training: weights imported
 * from a PyTorch module, written as our NLCK file and loaded back into the same PyTorch module
 * (tests/fixtures/models/torch_roundtrip.py), give the module's own logits. Runs only where
 * Debian's python3-torch is installed, and says so when it skips.
 */
import { describe, expect, it } from 'vitest';
import { importOnnx } from '../../../src-main/onnx/import';
import { fixtureBytes, fixtureExpect, IMPORTABLE, maxDiff } from './import-fixtures';
import { torchLogits, torchMissing } from './torch-helper';

const missing = torchMissing();

describe.skipIf(missing)(`round trip through PyTorch${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('imported weights loaded back into each PyTorch fixture module give its logits (1e-5)', () => {
    const imported = IMPORTABLE.map((name) => importOnnx(fixtureBytes(name), `${name}.onnx`));
    const logits = torchLogits(IMPORTABLE.map((module, i) => ({ module, weights: imported[i].weights! })));
    IMPORTABLE.forEach((name, i) => {
      const d = maxDiff(Float32Array.from(logits[i].flat()), fixtureExpect(name).logits);
      expect(d.abs, name).toBeLessThan(1e-5 * Math.max(1, d.scale));
    });
  });
});
