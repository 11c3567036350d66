"""torchvision ImageFolder + DataLoader reading an image folder for one epoch (the data bench's reference).

    python3 bench/imagefolder_torch.py DIR [--batch 128] [--workers 0]
Prints one JSON line: seconds for building the dataset (listing), for one epoch of batches, and images.
"""
import json
import sys
import time

import torch
from torchvision import datasets, transforms

args = sys.argv[1:]
root = args[0]
batch = int(args[args.index('--batch') + 1]) if '--batch' in args else 128
workers = int(args[args.index('--workers') + 1]) if '--workers' in args else 0
torch.set_num_threads(1)
t0 = time.perf_counter()
ds = datasets.ImageFolder(f'{root}/train', transform=transforms.Compose([transforms.Grayscale(), transforms.ToTensor()]))
test = datasets.ImageFolder(f'{root}/test', transform=transforms.Compose([transforms.Grayscale(), transforms.ToTensor()]))
t1 = time.perf_counter()
n = 0
for part in (ds, test):
    for x, y in torch.utils.data.DataLoader(part, batch_size=batch, shuffle=False, num_workers=workers):
        n += x.shape[0]
t2 = time.perf_counter()
print(json.dumps({'case': 'torchvision', 'images': n, 'list_s': round(t1 - t0, 3), 'epoch_s': round(t2 - t1, 3), 'total_s': round(t2 - t0, 3), 'workers': workers, 'batch': batch}))
