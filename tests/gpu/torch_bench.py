#!/usr/bin/env python3
"""PyTorch CUDA peer for tests/gpu/device_check.sh: the seed net (Conv(1,10,5) MaxPool2 ReLU Conv(10,20,5)
MaxPool2 ReLU Linear(320,10)), cross-entropy, SGD lr 0.01 momentum 0.5, batch 64, pixels
(x/255 - 0.1307)/0.3081, a fresh shuffle per epoch, on MNIST IDX .gz files. The whole training set sits
on the GPU (kinder to PyTorch than cnn_ddp's host staging). Prints one JSON line:
  img_per_s (training images / seconds of training steps after the warm-up, synchronised), test_acc.
Usage: python3 tests/gpu/torch_bench.py --data .deps/mnist [--epochs 2] [--batch 64]"""
import argparse, gzip, json, os, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols)
    return np.frombuffer(data, np.uint8, offset=8)


class Seed(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.fc = nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5), nn.Linear(320, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.c1(x), 2))
        x = F.relu(F.max_pool2d(self.c2(x), 2))
        return self.fc(x.flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=50)
    a = ap.parse_args()
    dev = torch.device("cuda")
    torch.manual_seed(1)

    def load(prefix):
        x = idx(os.path.join(a.data, prefix + "-images-idx3-ubyte.gz"))
        y = idx(os.path.join(a.data, prefix + "-labels-idx1-ubyte.gz"))
        x = (torch.from_numpy(x.copy()).float().div_(255.0).sub_(0.1307).div_(0.3081)).unsqueeze(1).to(dev)
        return x, torch.from_numpy(y.copy()).long().to(dev)

    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = Seed().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    steps, seconds, images = 0, 0.0, 0
    for _ in range(a.epochs):
        perm = torch.randperm(xtr.shape[0], device=dev)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        counted = 0
        for s in range(0, xtr.shape[0], a.batch):
            if steps == a.warmup:  # restart the clock after the warm-up steps
                torch.cuda.synchronize()
                t0, counted = time.perf_counter(), 0
            b = perm[s:s + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xtr[b]), ytr[b])
            loss.backward()
            opt.step()
            steps += 1
            counted += b.shape[0] if steps > a.warmup else 0
        torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        images += counted
    with torch.no_grad():
        acc = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, xte.shape[0], 1000))
    print(json.dumps({"img_per_s": images / seconds, "test_acc": 100.0 * acc / xte.shape[0], "steps": steps,
                      "device": torch.cuda.get_device_name(0), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
