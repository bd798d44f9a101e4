#!/usr/bin/env python3
"""PyTorch peer for tests/gpu/device_check.sh: the seed or the exercise net, taken from
launch/torch_mnist.py (the same definitions and recipe as cnn_ddp: seed lr 0.01 constant, exercise lr
0.05 decayed along a cosine over the epochs, SGD momentum 0.5, cross-entropy, batch 64, pixels
(x/255 - 0.1307)/0.3081, a fresh shuffle per epoch), on the MNIST IDX .gz files. The whole training
set sits on the device (kinder to PyTorch than cnn_ddp's host staging). Prints one JSON line:
  img_per_s (training images / seconds of training steps after the warm-up, synchronised), test_acc,
  steps, model, device, torch.
Usage: python3 tests/gpu/torch_bench.py --data .deps/mnist [--model seed|exercise] [--epochs 2]
       [--batch 64] [--max-steps N] [--device cuda|cpu]   (cpu: the device check's dry run)"""
import argparse, json, math, os, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "launch"))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_mnist import DEFAULT_LR, DEFAULT_SCHEDULE, MODELS, load_split  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", choices=sorted(MODELS), default="seed")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (0: all epochs)")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    torch.manual_seed(1)

    xtr, ytr = (t.to(dev) for t in load_split(a.data, "train"))
    xte, yte = (t.to(dev) for t in load_split(a.data, "test"))
    model = MODELS[a.model]().to(dev)
    lr = DEFAULT_LR[a.model]
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5)
    per_epoch = math.ceil(xtr.shape[0] / a.batch)
    total = a.epochs * per_epoch  # the cosine runs over --epochs, as cnn_ddp's does
    cosine = DEFAULT_SCHEDULE[a.model] == "cosine"
    steps, seconds, images = 0, 0.0, 0
    for _ in range(a.epochs):
        perm = torch.randperm(xtr.shape[0], device=dev)
        sync()
        t0, counted = time.perf_counter(), 0
        for s in range(0, xtr.shape[0], a.batch):
            if a.max_steps and steps >= a.max_steps:
                break
            if steps == a.warmup:  # restart the clock after the warm-up steps
                sync()
                t0, counted = time.perf_counter(), 0
            if cosine:
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * steps / total))
            b = perm[s:s + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xtr[b]), ytr[b])
            loss.backward()
            opt.step()
            steps += 1
            counted += b.shape[0] if steps > a.warmup else 0
        sync()
        if counted:
            seconds += time.perf_counter() - t0
            images += counted
    with torch.no_grad():
        acc = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, xte.shape[0], 1000))
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    print(json.dumps({"img_per_s": images / seconds if seconds else 0.0, "test_acc": 100.0 * acc / xte.shape[0],
                      "steps": steps, "model": a.model, "device": name, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
