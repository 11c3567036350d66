#!/usr/bin/python3
"""PyTorch side of issue 16's import measurement: train a fixture module (tests/fixtures/models)
the way NormLab's defaults train, and time it.

    /usr/bin/python3 bench/torch_fixture_train.py --module resnet_tiny --data DIR --epochs 2 \
        [--weights FILE.nlck] [--threads 2] [--val 0.1] [--seed 1] [--json]

Recipe (NormLab's defaults): SGD lr 0.05, momentum 0.9, batch 128, constant schedule, cross
entropy, inputs normalised by the training split's mean/std, shuffled each epoch (torch's own
generator, seeded: the order differs from ours), 10% of train held out for validation (random,
seeded; ours is stratified). --weights starts from an NLCK file (e.g. the weights
`normlab import-model` kept, which are the fixture's), else from the fixture's own init.
Prints per epoch: train loss/acc, val acc, test acc, training images/s (forward + backward +
step, evaluation excluded).
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'fixtures', 'models'))
import make_fixtures as fx  # noqa: E402
import torch_roundtrip as rt  # noqa: E402


def read_idx(path):
    for p in (path, path + '.gz'):
        if os.path.exists(p):
            raw = gzip.open(p).read() if p.endswith('.gz') else open(p, 'rb').read()
            break
    else:
        raise SystemExit(f'{path}[.gz]: not found')
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--module', default='resnet_tiny', choices=sorted(rt.MODULES))
    ap.add_argument('--data', required=True, help='folder with the four MNIST IDX files')
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--weights')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--val', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--lr', type=float, default=0.05)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr = read_idx(os.path.join(a.data, 'train-images-idx3-ubyte')).astype(np.float32) / 255
    ytr = read_idx(os.path.join(a.data, 'train-labels-idx1-ubyte')).astype(np.int64)
    xte = read_idx(os.path.join(a.data, 't10k-images-idx3-ubyte')).astype(np.float32) / 255
    yte = read_idx(os.path.join(a.data, 't10k-labels-idx1-ubyte')).astype(np.int64)
    rng = np.random.default_rng(a.seed)
    perm = rng.permutation(len(xtr))
    nval = int(round(a.val * len(xtr)))
    val_idx, tr_idx = perm[:nval], perm[nval:]
    mean, std = xtr[tr_idx].mean(), xtr[tr_idx].std()
    norm = lambda x: torch.tensor((x - mean) / std).unsqueeze(1)  # noqa: E731
    Xtr, Ytr = norm(xtr[tr_idx]), torch.tensor(ytr[tr_idx])
    Xva, Yva = norm(xtr[val_idx]), torch.tensor(ytr[val_idx])
    Xte, Yte = norm(xte), torch.tensor(yte)

    torch.manual_seed(0)
    model = rt.MODULES[a.module]()
    if a.weights:
        model.load_state_dict(rt.to_state_dict(rt.read_nlck(a.weights)), strict=False)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)

    def evaluate(X, Y):
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(X), 1000):
                correct += (model(X[i:i + 1000]).argmax(1) == Y[i:i + 1000]).sum().item()
        return correct / len(X)

    rows = []
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(1, a.epochs + 1):
        model.train()
        order = torch.randperm(len(Xtr), generator=g)
        loss_sum, correct, seen = 0.0, 0, 0
        t0 = time.perf_counter()
        for i in range(0, len(Xtr), a.batch):
            idx = order[i:i + a.batch]
            x, y = Xtr[idx], Ytr[idx]
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = F.cross_entropy(out, y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(y)
        secs = time.perf_counter() - t0
        row = {'epoch': epoch, 'train_loss': loss_sum / seen, 'train_acc': correct / seen, 'val_acc': evaluate(Xva, Yva),
               'test_acc': evaluate(Xte, Yte), 'seconds': secs, 'images_per_s': seen / secs}
        rows.append(row)
        if not a.json:
            print(f"epoch {epoch}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  val {row['val_acc']:.4f}  "
                  f"test {row['test_acc']:.4f}  {row['images_per_s']:.0f} img/s ({secs:.1f}s)", flush=True)
    if a.json:
        print(json.dumps({'module': a.module, 'torch': torch.__version__, 'threads': a.threads, 'batch': a.batch, 'lr': a.lr,
                          'weights': a.weights, 'epochs': rows}))


if __name__ == '__main__':
    main()
