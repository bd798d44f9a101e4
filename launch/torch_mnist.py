#!/usr/bin/python3
"""torch_mnist.py — the PyTorch peer that launch/bench.sh measures cnn_ddp against.

Same networks, data, optimiser and batch as cnn_ddp:
  seed:     Conv(1,10,5) MaxPool2 ReLU Conv(10,20,5) MaxPool2 ReLU Linear(320,10)
  exercise: Conv(1,16,3,p1) ReLU MaxPool2 Conv(16,32,3,p1) ReLU MaxPool2 Conv(32,64,3,p1) ReLU MaxPool2
            Linear(576,128) Linear(128,64) Linear(64,10)   (3 ReLU, as the brief says: none between the
            linear layers)
  CrossEntropyLoss, SGD momentum 0.5, lr 0.01 constant (seed) or 0.05 decayed along a cosine over the
  epochs (exercise, as cnn_ddp's defaults), batch 64, pixels (x/255 - 0.1307) / 0.3081,
  a fresh shuffle of the training set every epoch, the last partial batch kept.

Run it with Debian's python (/usr/bin/python3 has python3-torch 1.13; a pyenv `python3` may lack torch):
  /usr/bin/python3 launch/torch_mnist.py --model seed --max-steps 600            # one thread
  /usr/bin/python3 launch/torch_mnist.py --model exercise --epochs 2 --threads 2
  /usr/bin/python3 launch/torch_mnist.py --ddp 2 --max-steps 300                 # gloo DDP, 2 processes
  /usr/bin/python3 launch/torch_mnist.py --eval-only-bench --model seed          # inference only
--data takes a directory with the four MNIST IDX .gz files (default /work/shared/datasets/mnist, or
$CNN_DDP_MNIST_DIR) or an HDF5 file with /train/{images,labels} and /test/{images,labels} (needs h5py).

Prints progress lines on stderr ("epoch 1  loss ...  train ..%  test ..%  N img/s  T s", as cnn_ddp does)
and ONE JSON line on stdout:
  img_per_s       training throughput: images / seconds of training steps, after --warmup steps, not
                  counting evaluation; under --ddp it is the global rate (all processes together)
  test_acc        accuracy on the test set after training (percent)
  eval_img_per_s  inference rate over the whole test set (batch --eval-batch, no autograd)
  peak_rss_mb     peak resident set size (getrusage ru_maxrss) — the largest of the processes
  train_loss, train_acc: averages over the last epoch's steps (rank 0's share under --ddp)
--ddp N: N processes on localhost (gloo), each with --threads threads; the global batch (64) is split
across them (sizes differ by at most one) and the loss is scaled so that DDP's gradient average equals
the gradient of the mean over the global batch, exactly as in single-process training.
"""

import argparse
import gzip
import json
import math
import os
import resource
import socket
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as exc:  # a clear message beats a traceback from a pyenv python
    sys.exit(f"{sys.argv[0]}: cannot import numpy/torch ({exc}); run it with /usr/bin/python3 (python3-torch)")

MEAN, STD = 0.1307, 0.3081
DEFAULT_DATA = os.environ.get("CNN_DDP_MNIST_DIR", "/work/shared/datasets/mnist")


class SeedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.fc = nn.Linear(320, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc(x.flatten(1))


class ExerciseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(576, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 28 -> 14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 14 -> 7
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)  # 7 -> 3 (floor)
        return self.fc3(self.fc2(self.fc1(x.flatten(1))))


MODELS = {"seed": SeedNet, "exercise": ExerciseNet}
# cnn_ddp's per-model default recipe (src/model/spec.c, cd_spec_default_recipe).
DEFAULT_LR = {"seed": 0.01, "exercise": 0.05}
DEFAULT_SCHEDULE = {"seed": "constant", "exercise": "cosine"}


# ---------------------------------------------------------------- data

def read_idx(path, magic_expected):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != magic_expected:
        raise ValueError(f"{path}: magic {magic}, expected {magic_expected}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} bytes of data, header says {dims}")
    return data.reshape(dims)


def load_split(data, split):
    """Returns (float images [N,1,28,28] normalised, int64 labels [N]) for split 'train' or 'test'."""
    if os.path.isdir(data):
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(os.path.join(data, f"{prefix}-images-idx3-ubyte.gz"), 2051)
        labels = read_idx(os.path.join(data, f"{prefix}-labels-idx1-ubyte.gz"), 2049)
    else:
        try:
            import h5py
        except ImportError:
            sys.exit(f"{sys.argv[0]}: --data {data}: an HDF5 file needs h5py; pass the IDX directory instead")
        with h5py.File(data, "r") as f:
            images = np.asarray(f[f"/{split}/images"], dtype=np.uint8)
            labels = np.asarray(f[f"/{split}/labels"], dtype=np.uint8)
        images = images.reshape(images.shape[0], 28, 28)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{data}: {split}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).sub_(MEAN).div_(STD).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x.contiguous(), y


# ---------------------------------------------------------------- train / eval

def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


@torch.no_grad()
def evaluate(model, x, y, batch):
    """Returns (accuracy %, images per second) over the whole set."""
    model.eval()
    correct = 0
    model(x[:batch])  # warm-up: first-call allocations stay out of the timing
    t0 = time.perf_counter()
    for i in range(0, x.shape[0], batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    dt = time.perf_counter() - t0
    model.train()
    return 100.0 * correct / x.shape[0], x.shape[0] / dt


def local_slice(n, rank, world):
    """Start and length of this rank's share of a global batch of n rows (sizes differ by at most 1)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, base + (1 if rank < extra else 0)


def train(args, rank=0, world=1):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # same initial weights on every rank; DDP also broadcasts rank 0's
    xtr, ytr = load_split(args.data, "train")
    xte, yte = load_split(args.data, "test")
    model = MODELS[args.model]()
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    gen = torch.Generator().manual_seed(args.seed)  # same permutation on every rank

    n = xtr.shape[0]
    steps_per_epoch = (n + args.batch - 1) // args.batch
    max_steps = args.max_steps if args.max_steps is not None else args.epochs * steps_per_epoch
    schedule_steps = args.epochs * steps_per_epoch
    step = 0
    timed_images = 0
    timed_s = 0.0
    train_loss = train_acc = float("nan")
    test_acc = eval_rate = float("nan")
    t_start = time.perf_counter()
    epoch = 0
    while step < max_steps and epoch < args.epochs:
        epoch += 1
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct, seen, epoch_images, epoch_s = 0.0, 0, 0, 0, 0.0
        for first in range(0, n, args.batch):
            if step >= max_steps:
                break
            rows = perm[first:first + args.batch]
            g = rows.shape[0]
            if g < world:  # a tail too short to give every process a row: drop it everywhere
                break
            start, count = local_slice(g, rank, world)
            idx = rows[start:start + count]
            xb, yb = xtr[idx], ytr[idx]
            t0 = time.perf_counter()
            if args.lr_schedule == "cosine":  # cnn_ddp's cd_lr_at: over --epochs, by the step being taken
                for group in opt.param_groups:
                    group["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * step / schedule_steps))
            opt.zero_grad(set_to_none=True)
            out = net(xb)
            # sum / global count * world: DDP divides by world, leaving the global-batch mean.
            loss = F.cross_entropy(out, yb, reduction="sum") * (world / g)
            loss.backward()
            opt.step()
            dt = time.perf_counter() - t0
            step += 1
            if step > args.warmup:
                timed_images += g
                timed_s += dt
                epoch_images += g
                epoch_s += dt
            loss_sum += float(loss) * g / world  # this process's summed per-row loss
            correct += int((out.argmax(1) == yb).sum())
            seen += count
        train_loss = loss_sum / max(1, seen)
        train_acc = 100.0 * correct / max(1, seen)
        if rank == 0 and not args.no_eval:
            test_acc, eval_rate = evaluate(model, xte, yte, args.eval_batch)
        if world > 1:
            dist.barrier()
        if rank == 0 and not args.quiet:
            rate = epoch_images / epoch_s if epoch_s > 0 else float("nan")
            print(f"epoch {epoch}  loss {train_loss:.4f}  train {train_acc:.2f}%  test {test_acc:.2f}%  "
                  f"{rate:.0f} img/s  {time.perf_counter() - t_start:.1f} s", file=sys.stderr, flush=True)

    rss = torch.tensor([peak_rss_mb()], dtype=torch.float64)
    if world > 1:
        # Each process timed its own steps; the slowest defines the global rate.
        t = torch.tensor([timed_s], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        timed_s = float(t)
        dist.all_reduce(rss, op=dist.ReduceOp.MAX)
    result = {
        "impl": "pytorch", "torch": torch.__version__, "model": args.model, "threads": args.threads,
        "ddp": world, "batch": args.batch, "epochs": epoch, "steps": step, "warmup_steps": args.warmup,
        "img_per_s": round(timed_images / timed_s, 1) if timed_s > 0 else None,
        "train_loss": round(train_loss, 5), "train_acc": round(train_acc, 3),
        "test_acc": None if test_acc != test_acc else round(test_acc, 3),
        "eval_img_per_s": None if eval_rate != eval_rate else round(eval_rate, 1),
        "peak_rss_mb": round(float(rss), 1), "elapsed_s": round(time.perf_counter() - t_start, 3),
    }
    return result


def eval_only(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xte, yte = load_split(args.data, "test")
    model = MODELS[args.model]()
    rates = [evaluate(model, xte, yte, args.eval_batch)[1] for _ in range(args.eval_reps)]
    return {
        "impl": "pytorch", "torch": torch.__version__, "model": args.model, "threads": args.threads,
        "mode": "eval-only", "images": int(xte.shape[0]), "eval_batch": args.eval_batch,
        "eval_img_per_s": round(sorted(rates)[len(rates) // 2], 1),  # median of the repetitions
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def ddp_worker(rank, world, port, args, queue):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # stay on loopback whatever the hostname resolves to
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        result = train(args, rank, world)
        if rank == 0:
            queue.put(result)
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="IDX .gz directory or HDF5 file")
    p.add_argument("--model", choices=sorted(MODELS), default="seed")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps")
    p.add_argument("--batch", type=int, default=64, help="global batch size")
    p.add_argument("--lr", type=float, default=None, help="default: the model's (seed 0.01, exercise 0.05)")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=None,
                   help="default: the model's (seed constant, exercise cosine over --epochs)")
    p.add_argument("--momentum", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads per process")
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the throughput")
    p.add_argument("--ddp", type=int, default=1, metavar="N", help="gloo DDP with N local processes")
    p.add_argument("--eval-only-bench", action="store_true", help="only time inference on the test set")
    p.add_argument("--eval-batch", type=int, default=64,
                   help="inference batch (64: batch 1000 runs 4x slower in torch 1.13 on one thread)")
    p.add_argument("--eval-reps", type=int, default=3, help="repetitions for --eval-only-bench")
    p.add_argument("--no-eval", action="store_true", help="skip the test-set evaluation after training")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.model]
    if args.lr_schedule is None:
        args.lr_schedule = DEFAULT_SCHEDULE[args.model]
    for name in ("epochs", "batch", "threads", "ddp", "eval_batch", "eval_reps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}: must be at least 1")
    if args.max_steps is not None and args.max_steps < 1:
        p.error("--max-steps: must be at least 1")
    if args.warmup < 0:
        p.error("--warmup: must be at least 0")
    if args.ddp > args.batch:
        p.error(f"--ddp {args.ddp}: more processes than rows in a batch of {args.batch}")
    if args.max_steps is not None and args.epochs == 1 and "--epochs" not in " ".join(argv):
        args.epochs = 1 << 30  # --max-steps alone: run as many epochs as the steps need
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_interop_threads(1)  # no hidden extra pool competing with the measured threads
    if args.eval_only_bench:
        result = eval_only(args)
    elif args.ddp == 1:
        result = train(args)
    else:
        ctx = mp.get_context("spawn")
        queue = ctx.SimpleQueue()
        mp.spawn(ddp_worker, args=(args.ddp, free_port(), args, queue), nprocs=args.ddp, join=True)
        result = queue.get()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
