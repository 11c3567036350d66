/** The property tests of tests/unit/props with 10× the inputs (npm run test:soak). */
process.env.NORMLAB_PROP_RUNS ??= '3000';
process.env.NORMLAB_ONNX_CASES ??= '1500';
await import('../unit/props/idx.test');
await import('../unit/props/settings.test');
await import('../unit/props/onnx.test');

export {};
