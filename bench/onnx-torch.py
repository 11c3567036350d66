#!/usr/bin/env python3
"""PyTorch side of the ONNX inference benchmark (issue 9).

Exports PyTorch's own twin of the S5 net (shared/reference/torch_reference.py: s5_net()) in eval
mode with torch.onnx.export, and times PyTorch's eval-mode forward on the same input the ORT
benchmark uses. Run with Debian's /usr/bin/python3 (python3-torch); bench/onnx-bench.ts calls it.

  onnx-torch.py --input X.f32 --count N [--export OUT.onnx] [--threads 1] [--batch 128] [--seconds 2] [--serve]

With --serve it prints {"ready": ...} and then, for each line "SECONDS" read from stdin, times
the forward pass for that long and prints {"eval_img_per_s": ...}: the caller interleaves these
rounds with its ONNX Runtime rounds, so that load from other processes hits both alike.

X.f32: N x 1 x 28 x 28 little-endian float32 (normalized real digits). Prints one JSON line.
"""
import argparse, importlib.util, json, os, statistics, sys, time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REF_CANDIDATES = [os.environ.get('NORMLAB_TORCH_REFERENCE', ''),
                  os.path.join(HERE, '..', 'reference', 'torch_reference.py'),
                  '/work/shared/reference/torch_reference.py']


def load_reference():
    for p in REF_CANDIDATES:
        if p and os.path.exists(p):
            spec = importlib.util.spec_from_file_location('torch_reference', p)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod, p
    sys.exit('onnx-torch.py: torch_reference.py not found (set NORMLAB_TORCH_REFERENCE)')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--input', required=True)
    ap.add_argument('--count', type=int, required=True)
    ap.add_argument('--export')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--seconds', type=float, default=2.0)
    ap.add_argument('--opset', type=int, default=17)
    ap.add_argument('--serve', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ref, ref_path = load_reference()
    torch.manual_seed(0)
    m = ref.s5_net()
    # Non-trivial running statistics, like a trained net (values do not change the speed).
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.3, 2.0)
    m.eval()
    with open(a.input, 'rb') as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(a.count, 1, 28, 28)
    exported = None
    if a.export:
        torch.onnx.export(m, x[:1], a.export, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}}, opset_version=a.opset,
                          do_constant_folding=True)
        exported = a.export
    b = a.batch
    batches = [x[i:i + b] for i in range(0, a.count - b + 1, b)]
    def timed(seconds):
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            m(batches[n % len(batches)])
            n += 1
        return n * b / (time.perf_counter() - t)

    rates = []
    with torch.no_grad():
        for xb in batches[:3]:
            m(xb)
        if a.serve:
            print(json.dumps({'ready': True, 'peer': f'pytorch {torch.__version__}', 'threads': torch.get_num_threads(), 'onnx': exported}), flush=True)
            for line in sys.stdin:
                if line.strip() in ('', 'quit'):
                    break
                print(json.dumps({'eval_img_per_s': round(timed(float(line)), 1)}), flush=True)
            return
        for _ in range(5):
            rates.append(timed(a.seconds / 5))
    print(json.dumps({'peer': f'pytorch {torch.__version__}', 'reference': ref_path, 'threads': torch.get_num_threads(),
                      'batch': b, 'eval_img_per_s': round(statistics.median(rates), 1), 'onnx': exported,
                      'opset': a.opset}))


if __name__ == '__main__':
    main()
