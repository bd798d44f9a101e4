#!/usr/bin/python3
"""export.py — a cnn_ddp checkpoint as a TorchScript module and an ONNX model.

  /usr/bin/python3 launch/export.py CKPT.h5 --torchscript OUT.pt --onnx OUT.onnx [--data DATA.h5]

Rebuilds the network from the checkpoint's recorded `model` (the canonical layer spec; `seed` and
`exercise` are accepted too), loads /params, and writes
  --torchscript OUT.pt   torch.jit.script of the network (extra file meta.json: classes, names, mean/std)
  --onnx OUT.onnx        the same network (opset 13, dynamic batch), checked with onnx.checker
Both take float32 images in [0, 1], NCHW, as pixel / 255 (input "images", [N,C,H,W]); the normalisation
(x - mean[c]) / std[c] is inside the model; the output ("logits", [N,K]) is the class scores before
softmax. Layer semantics are cnn_ddp's (src/layers): conv with zero padding, max-pool without padding in
floor mode, fc flattening C,H,W in that order, no activation unless the spec has relu.

Then it evaluates the saved TorchScript module on the test split of the data (--data, else the
checkpoint's `data` attribute) and prints its accuracy next to `cnn_ddp eval`'s (the binary from
launch/find_binary.sh, or $CNN_DDP_BIN). Exit 0 when the correct counts are equal, 1 when they differ
or eval fails, 2 for a bad checkpoint, model or data file (one line). --no-eval skips the comparison.
Checkpoints from before issue 14 lack data_channels/classes/norm_*: C=1, K=10, mean 0.1307, std 0.3081.
"""

import argparse
import json
import os
import re
import subprocess
import sys

PROG = "export.py"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Today's compiled-in values (include/data/cnn_ddp/data.h), for checkpoints that do not record them.
LEGACY = {"channels": 1, "classes": 10, "mean": [0.1307], "std": [0.3081]}
SEED_SPEC = "conv(10,k=5) pool(2) relu conv(20,k=5) pool(2) relu fc(10)"
EXERCISE_SPEC = ("conv(16,k=3,p=1) relu pool(2) conv(32,k=3,p=1) relu pool(2) "
                 "conv(64,k=3,p=1) relu pool(2) fc(128) fc(64) fc(10)")


class Refused(Exception):
    """Bad input: one line, exit 2."""


def text(v):
    if hasattr(v, "item") and getattr(v, "shape", None) == ():
        v = v.item()
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


# ---------------------------------------------------------------- the model spec (src/model/spec.c)

def parse_spec(spec, classes):
    """[(type, args)] for a cnn_ddp layer spec: conv(OUT,k=,s=,p=) pool(K,s=) relu flatten fc(OUT)/linear."""
    s = spec.strip()
    if s == "seed":
        s = SEED_SPEC
    elif s == "exercise":
        s = EXERCISE_SPEC
    layers = []
    pos = 0
    token = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)(?:\(([^()]*)\))?(?=\s|$)")
    while pos < len(s):
        if s[pos:].strip() == "":
            break
        m = token.match(s, pos)
        if not m:
            raise Refused(f"model spec at {pos + 1}: cannot read '{s[pos:pos + 20].strip()}'")
        name, argtext = m.group(1), m.group(2)
        kind = {"linear": "fc"}.get(name, name)
        if kind not in ("conv", "pool", "relu", "flatten", "fc"):
            raise Refused(f"model spec at {m.start(1) + 1}: unknown layer '{name}' (known: conv, pool, relu, flatten, fc, linear)")
        args = {}
        if kind in ("relu", "flatten"):
            if argtext is not None:
                raise Refused(f"model spec: {name} takes no arguments")
        else:
            if argtext is None:
                raise Refused(f"model spec at {m.end() + 1}: expected '(' after {name}")
            first = "k" if kind == "pool" else "out"
            for i, a in enumerate(x.strip() for x in argtext.split(",")):
                key, _, val = a.partition("=")
                if not _:
                    key, val = (first if i == 0 else "?"), a
                key = {"kernel": "k", "stride": "s", "pad": "p", "padding": "p"}.get(key.strip(), key.strip())
                val = val.strip()
                if key == "out" and val == "classes":
                    val = str(classes)
                if key not in ({"out", "k", "s", "p"} if kind == "conv" else {"k", "s"} if kind == "pool" else {"out"}):
                    raise Refused(f"model spec: {name}({argtext}): unknown argument '{a}'")
                if not re.fullmatch(r"\d+", val):
                    raise Refused(f"model spec: {name}({argtext}): '{val}' is not an integer")
                args[key] = int(val)
            if kind == "conv":
                args.setdefault("k", 3), args.setdefault("s", 1), args.setdefault("p", 0)
            if kind == "pool":
                args.setdefault("s", args["k"])
        layers.append((kind, args))
        pos = m.end()
    if not layers or layers[-1][0] != "fc":
        raise Refused(f"model spec '{spec}': the last layer must be fc")
    return layers


def build(layers, params, channels, height, width, mean, std, ckpt):
    """The torch network and its input/output sizes; every parameter's shape is checked."""
    import torch
    import torch.nn as nn

    class Normalise(nn.Module):
        def __init__(self, m, s):
            super().__init__()
            self.register_buffer("mean", torch.tensor(m, dtype=torch.float32).reshape(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(s, dtype=torch.float32).reshape(1, -1, 1, 1))

        def forward(self, x):
            return (x - self.mean) / self.std

    mods = [Normalise(mean, std)]
    c, h, w = channels, height, width
    flat = False
    counts = {}
    for index, (kind, a) in enumerate(layers):
        counts[kind] = counts.get(kind, 0) + 1
        name = f"{kind}{counts[kind]}"
        where = f"model layer {index + 1} {kind}"
        if kind == "conv":
            ph, pw = h + 2 * a["p"], w + 2 * a["p"]
            if ph < a["k"] or pw < a["k"]:
                raise Refused(f"{ckpt}: {where}: input {h}x{w} is smaller than the {a['k']}x{a['k']} kernel")
            m = nn.Conv2d(c, a["out"], a["k"], stride=a["s"], padding=a["p"])
            c, h, w = a["out"], (ph - a["k"]) // a["s"] + 1, (pw - a["k"]) // a["s"] + 1
        elif kind == "pool":
            if h < a["k"] or w < a["k"]:
                raise Refused(f"{ckpt}: {where}: input {h}x{w} is smaller than the {a['k']}x{a['k']} window")
            m = nn.MaxPool2d(a["k"], stride=a["s"])
            h, w = (h - a["k"]) // a["s"] + 1, (w - a["k"]) // a["s"] + 1
        elif kind == "relu":
            m = nn.ReLU()
        elif kind == "flatten":
            if not flat:
                mods.append(nn.Flatten())
                c, h, w, flat = c * h * w, 1, 1, True
            continue
        else:  # fc flattens on its own
            if not flat:
                mods.append(nn.Flatten())
                c, h, w, flat = c * h * w, 1, 1, True
            m = nn.Linear(c, a["out"])
            c = a["out"]
        if kind in ("conv", "fc"):
            for t in ("weight", "bias"):
                path = f"/params/{name}/{t}"
                if path not in params:
                    raise Refused(f"{ckpt}: {path}: missing dataset (the model {kind} needs it)")
                want = tuple(getattr(m, t).shape)
                got = tuple(params[path].shape)
                if got != want:
                    raise Refused(f"{ckpt}: {path}: shape {list(got)}, the model needs {list(want)}")
                with torch.no_grad():
                    getattr(m, t).copy_(torch.from_numpy(params[path][...]))
        mods.append(m)
    return nn.Sequential(*mods).eval(), c


# ---------------------------------------------------------------- reading files

def read_checkpoint(path):
    import h5py
    import numpy as np
    if not os.path.exists(path):
        raise Refused(f"{path}: no such checkpoint")
    if not os.path.isfile(path):
        raise Refused(f"{path}: not a regular file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise Refused(f"{path}: not an HDF5 file ({str(e).splitlines()[0]})")
    with f:
        a = f.attrs
        if text(a.get("format", "")) != "cnn_ddp-checkpoint" or "model" not in a:
            raise Refused(f"{path}: not a cnn_ddp checkpoint (no format/model attributes)")
        meta = {"model": text(a["model"]), "data": text(a.get("data", "")),
                "height": int(a["data_height"]), "width": int(a["data_width"])}
        meta["channels"] = int(a["data_channels"]) if "data_channels" in a else LEGACY["channels"]
        meta["classes"] = int(a["classes"]) if "classes" in a else LEGACY["classes"]
        for key, attr in (("mean", "norm_mean"), ("std", "norm_std")):
            if attr in a:
                try:
                    meta[key] = [float(x) for x in text(a[attr]).split(",")]
                except ValueError:
                    raise Refused(f"{path}: attribute {attr} '{text(a[attr])}' is not comma-separated numbers")
            else:
                meta[key] = LEGACY[key]
            if len(meta[key]) != meta["channels"]:
                raise Refused(f"{path}: attribute {attr} has {len(meta[key])} values for {meta['channels']} channels")
        names = text(a["class_names"]) if "class_names" in a else ""
        meta["class_names"] = names.split("\n") if names else []
        params = {}
        if "params" not in f:
            raise Refused(f"{path}: /params: missing group")

        def take(name, obj):
            if isinstance(obj, h5py.Dataset):
                params["/params/" + name] = np.asarray(obj[...], dtype=np.float32)
        f["params"].visititems(take)
    return meta, params


def read_test(path, channels):
    """The test split as (uint8 [N,C,H,W], int64 labels [N]), in the layouts the data contract allows."""
    import h5py
    import numpy as np
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise Refused(f"{path}: cannot open the data file ({str(e).splitlines()[0]})")
    with f:
        if "test" not in f:
            return None
        ds = f["test/images"]
        x = np.asarray(ds[...])
        y = np.asarray(f["test/labels"][...]).astype(np.int64).reshape(-1)
        layout = text(ds.attrs.get("layout", "NCHW")).upper()
    if x.ndim == 3:
        x = x[:, None, :, :]
    elif x.ndim == 4 and layout == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4 or layout != "NCHW":
        raise Refused(f"{path}: /test/images: shape {list(x.shape)} with layout '{layout}' is not [N,H,W], NCHW or NHWC")
    if x.shape[1] != channels:
        raise Refused(f"{path}: /test/images has {x.shape[1]} channels, the checkpoint {channels}")
    return np.ascontiguousarray(x), y


def cnn_ddp_eval(ckpt, data):
    """(correct, total) from `cnn_ddp eval`, or raises RuntimeError with its output."""
    binary = subprocess.run(["bash", "-c", 'source "$1/launch/find_binary.sh"; cnn_ddp_binary "$1"', "-", ROOT],
                            capture_output=True, text=True).stdout.strip()
    if not binary:
        raise RuntimeError(f"no cnn_ddp binary (build it, or set CNN_DDP_BIN)")
    r = subprocess.run([binary, "eval", "--ckpt", ckpt, "--data", data], capture_output=True, text=True)
    m = re.search(r"test accuracy [0-9.]+% \((\d+) of (\d+)\)", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"{binary} eval exited {r.returncode}: {(r.stderr or r.stdout).strip()[:400]}")
    return int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------- main

def main(argv):
    p = argparse.ArgumentParser(prog="launch/export.py", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("ckpt", metavar="CKPT.h5")
    p.add_argument("--torchscript", metavar="OUT.pt")
    p.add_argument("--onnx", metavar="OUT.onnx")
    p.add_argument("--data", metavar="DATA.h5", help="test data (default: the checkpoint's data attribute)")
    p.add_argument("--no-eval", action="store_true", help="write the files, skip the accuracy comparison")
    p.add_argument("--batch", type=int, default=500, help="evaluation batch")
    args = p.parse_args(argv)
    if not args.torchscript and not args.onnx:
        p.error("give --torchscript OUT.pt and/or --onnx OUT.onnx")
    try:
        import h5py  # noqa: F401
        import numpy as np
        import torch
    except ImportError as e:
        print(f"{PROG}: cannot import h5py/numpy/torch ({e}); run it with /usr/bin/python3 "
              "(Debian python3-torch, python3-h5py)", file=sys.stderr)
        return 2
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    try:
        meta, params = read_checkpoint(args.ckpt)
        layers = parse_spec(meta["model"], meta["classes"])
        net, outputs = build(layers, params, meta["channels"], meta["height"], meta["width"],
                             meta["mean"], meta["std"], args.ckpt)
        if outputs != meta["classes"]:
            raise Refused(f"{args.ckpt}: the model's last layer gives {outputs} outputs, the checkpoint records {meta['classes']} classes")
        data = args.data or meta["data"]
        test = None
        if not args.no_eval:
            if not data or not os.path.isfile(data):
                raise Refused(f"{args.ckpt}: its data file '{data}' is not there; give --data DATA.h5 (or --no-eval)")
            test = read_test(data, meta["channels"])
    except Refused as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2

    c, h, w = meta["channels"], meta["height"], meta["width"]
    info = {"input": f"float32 [N,{c},{h},{w}] NCHW, pixel/255 in [0,1]", "output": f"logits [N,{meta['classes']}]",
            "model": meta["model"], "mean": meta["mean"], "std": meta["std"], "classes": meta["classes"],
            "class_names": meta["class_names"], "checkpoint": os.path.abspath(args.ckpt)}
    example = torch.rand(2, c, h, w)
    scripted = torch.jit.script(net)
    ts_path = args.torchscript
    if ts_path:
        torch.jit.save(scripted, ts_path, _extra_files={"meta.json": json.dumps(info)})
        print(f"{PROG}: wrote {ts_path} (TorchScript; input {info['input']}, output {info['output']})")
    if args.onnx:
        try:
            import onnx
        except ImportError:
            onnx = None
        torch.onnx.export(net, example, args.onnx, input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
        if onnx is None:
            print(f"{PROG}: wrote {args.onnx} (ONNX, opset 13); not checked: the onnx module is missing "
                  "(apt-get install python3-onnx)")
        else:
            model = onnx.load(args.onnx)
            for k, v in (("cnn_ddp", json.dumps(info)),):
                model.metadata_props.add(key=k, value=v)
            onnx.checker.check_model(model)
            onnx.save(model, args.onnx)
            print(f"{PROG}: wrote {args.onnx} (ONNX, opset 13; onnx.checker: valid)")
    if args.no_eval:
        return 0
    if test is None:
        print(f"{PROG}: {data} has no /test split: nothing to compare")
        return 0

    # The saved module, as a user would load it; without --torchscript, the scripted one in memory.
    module = torch.jit.load(ts_path) if ts_path else scripted
    x, y = test
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], args.batch):
            xb = torch.from_numpy(x[i:i + args.batch]).to(torch.float32) / 255.0
            correct += int((module(xb).argmax(1) == torch.from_numpy(y[i:i + args.batch])).sum())
    n = x.shape[0]
    print(f"TorchScript test accuracy {100.0 * correct / n:.2f}% ({correct} of {n})")
    try:
        ref, ref_n = cnn_ddp_eval(args.ckpt, data)
    except RuntimeError as e:
        print(f"{PROG}: cannot compare: {e}", file=sys.stderr)
        return 1
    print(f"cnn_ddp eval    test accuracy {100.0 * ref / ref_n:.2f}% ({ref} of {ref_n})")
    if (ref, ref_n) != (correct, n):
        print(f"{PROG}: the exported model disagrees with cnn_ddp eval: {correct} vs {ref} correct of {n}",
              file=sys.stderr)
        return 1
    print(f"{PROG}: agree ({correct} of {n})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
