#!/usr/bin/python3
"""torch_mnist.py — the PyTorch peer that launch/bench.sh measures cnn_ddp against.

Same networks, data, optimiser and batch as cnn_ddp:
  seed:     Conv(1,10,5) MaxPool2 ReLU Conv(10,20,5) MaxPool2 ReLU Linear(320,10)
  exercise: Conv(1,16,3,p1) ReLU MaxPool2 Conv(16,32,3,p1) ReLU MaxPool2 Conv(32,64,3,p1) ReLU MaxPool2
            Linear(576,128) Linear(128,64) Linear(64,10)   (3 ReLU, as the brief says: none between the
            linear layers)
  CrossEntropyLoss, SGD momentum 0.5, lr 0.01 constant (seed) or 0.05 decayed along a cosine over the
  epochs (exercise, as cnn_ddp's defaults), batch 64, pixels (x/255 - mean[c]) / std[c] with the data
  file's /train/images mean/std attributes (else computed over the training images, as cnn_ddp does),
  a fresh shuffle of the training set every epoch, the last partial batch kept. The input channels, image
  size and classes (/train/labels num_classes, else max label + 1) come from the data, so the same nets
  run on Fashion-MNIST or any file cnn_ddp reads ([N,H,W], [N,C,H,W], or [N,H,W,C] with layout=NHWC).

Run it with Debian's python (/usr/bin/python3 has python3-torch 1.13; a pyenv `python3` may lack torch):
  /usr/bin/python3 launch/torch_mnist.py --model seed --max-steps 600            # one thread
  /usr/bin/python3 launch/torch_mnist.py --model exercise --epochs 2 --threads 2
  /usr/bin/python3 launch/torch_mnist.py --ddp 2 --max-steps 300                 # gloo DDP, 2 processes
  /usr/bin/python3 launch/torch_mnist.py --eval-only-bench --model seed          # inference only
--data takes a directory with the four IDX files, .gz or raw (default /work/shared/datasets/mnist, or
$CNN_DDP_MNIST_DIR) or the HDF5 file cnn_ddp trains on (/train and /test images and labels; needs h5py),
e.g. --data datasets/fashion-mnist.h5 from datasets/prepare.sh fashion-mnist.

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

DEFAULT_DATA = os.environ.get("CNN_DDP_MNIST_DIR", "/work/shared/datasets/mnist")


def flat_size(features, c, h, w):
    with torch.no_grad():
        return int(features(torch.zeros(1, c, h, w)).numel())


class SeedNet(nn.Module):
    def __init__(self, c=1, k=10, h=28, w=28):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.fc = nn.Linear(flat_size(self.features, c, h, w), k)  # 320 for 28x28

    def features(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        return F.relu(F.max_pool2d(self.conv2(x), 2))

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class ExerciseNet(nn.Module):
    def __init__(self, c=1, k=10, h=28, w=28):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(flat_size(self.features, c, h, w), 128)  # 576 for 28x28
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, k)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 28 -> 14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 14 -> 7
        return F.max_pool2d(F.relu(self.conv3(x)), 2)  # 7 -> 3 (floor)

    def forward(self, x):
        return self.fc3(self.fc2(self.fc1(self.features(x).flatten(1))))


MODELS = {"seed": SeedNet, "exercise": ExerciseNet}
# cnn_ddp's per-model default recipe (src/model/spec.c, cd_spec_default_recipe).
DEFAULT_LR = {"seed": 0.01, "exercise": 0.05}
DEFAULT_SCHEDULE = {"seed": "constant", "exercise": "cosine"}


# ---------------------------------------------------------------- data

def read_idx(path, magic_expected):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
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


def idx_path(data, name):
    gz = os.path.join(data, name + ".gz")
    return gz if os.path.exists(gz) else os.path.join(data, name)


def attr_text(v):
    v = v.item() if hasattr(v, "item") and getattr(v, "shape", None) == () else v
    return v.decode() if isinstance(v, bytes) else str(v)


def read_raw(data, split):
    """(uint8 images [N,C,H,W], int64 labels [N], attrs of /train/images and /train/labels or {})."""
    if os.path.isdir(data):
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(idx_path(data, f"{prefix}-images-idx3-ubyte"), 2051)[:, None]
        labels = read_idx(idx_path(data, f"{prefix}-labels-idx1-ubyte"), 2049)
        return images, labels.astype(np.int64), {}, {}
    try:
        import h5py
    except ImportError:
        sys.exit(f"{sys.argv[0]}: --data {data}: an HDF5 file needs h5py; pass the IDX directory instead")
    with h5py.File(data, "r") as f:
        ds = f[f"/{split}/images"]
        images = np.asarray(ds)
        labels = np.asarray(f[f"/{split}/labels"]).astype(np.int64).reshape(-1)
        layout = attr_text(ds.attrs.get("layout", "NCHW")).upper()
        img_attrs = dict(f["/train/images"].attrs)
        lab_attrs = dict(f["/train/labels"].attrs)
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and layout == "NHWC":
        images = images.transpose(0, 3, 1, 2)
    elif images.ndim != 4 or layout != "NCHW":
        sys.exit(f"{sys.argv[0]}: {data}: /{split}/images: shape {images.shape}, layout {layout}: not [N,H,W], NCHW or NHWC")
    return np.ascontiguousarray(images), labels, img_attrs, lab_attrs


def load_data(data):
    """(xtr, ytr, xte, yte, info): float images [N,C,H,W] as (x/255 - mean[c]) / std[c], int64 labels.
    mean/std: the file's /train/images attributes when present, else computed over the training images
    (float64, per channel, population std), as cnn_ddp does. Classes: /train/labels num_classes, else
    the largest label + 1."""
    tr_img, ytr, img_attrs, lab_attrs = read_raw(data, "train")
    te_img, yte, _, _ = read_raw(data, "test")
    for img, lab, split in ((tr_img, ytr, "train"), (te_img, yte, "test")):
        if img.shape[0] != lab.shape[0]:
            raise ValueError(f"{data}: {split}: {img.shape[0]} images but {lab.shape[0]} labels")
    c = tr_img.shape[1]
    if "mean" in img_attrs and "std" in img_attrs:
        mean = np.asarray(img_attrs["mean"], dtype=np.float64).reshape(-1)
        std = np.asarray(img_attrs["std"], dtype=np.float64).reshape(-1)
        source = "file"
    else:
        # Exact integer sums per channel, then mean = S/(n*255), std = sqrt(n*Q - S^2)/(n*255), as mnist2h5.
        n = tr_img.shape[0] * tr_img.shape[2] * tr_img.shape[3]
        sums = [int(tr_img[:, i].sum(dtype=np.uint64)) for i in range(c)]
        sqs = [int((tr_img[:, i].astype(np.uint16) ** 2).sum(dtype=np.uint64)) for i in range(c)]
        mean = np.array([sm / (n * 255.0) for sm in sums])
        std = np.array([math.sqrt(n * q - sm * sm) / (n * 255.0) for sm, q in zip(sums, sqs)])
        source = "computed"
    classes = int(lab_attrs["num_classes"]) if "num_classes" in lab_attrs else int(max(ytr.max(), yte.max())) + 1
    m = torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)

    def norm(img):
        return torch.from_numpy(img.astype(np.float32) / np.float32(255.0)).sub_(m).div_(s).contiguous()

    info = {"channels": c, "height": tr_img.shape[2], "width": tr_img.shape[3], "classes": classes,
            "mean": [round(float(v), 6) for v in mean], "std": [round(float(v), 6) for v in std], "norm": source}
    return norm(tr_img), torch.from_numpy(ytr), norm(te_img), torch.from_numpy(yte), info


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
    xtr, ytr, xte, yte, info = load_data(args.data)
    model = MODELS[args.model](info["channels"], info["classes"], info["height"], info["width"])
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
        "ddp": world, "batch": args.batch, "epochs": epoch, "seed": args.seed, "data": info, "steps": step, "warmup_steps": args.warmup,
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
    _, _, xte, yte, info = load_data(args.data)
    model = MODELS[args.model](info["channels"], info["classes"], info["height"], info["width"])
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
