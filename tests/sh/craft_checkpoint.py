#!/usr/bin/python3
"""Edits a cnn_ddp checkpoint in place and recomputes its checksums, so that every checksum passes and
only the values are wrong: the semantic checks must then refuse it (tests/sh/test_hostile_paths.sh).

  craft_checkpoint.py FILE set NAME VALUE        root attribute NAME (an integer or float field) = VALUE
  craft_checkpoint.py FILE poke /params/L/T K V  element K (flat) of that tensor = V ("nan", "inf", 1.5)

Tensor checksums are the standard FNV-1a 64 of the little-endian float32 bytes. meta_checksum is
FNV-1a 64 over every field as ckpt_meta.c's fnv_field lays it out (name, NUL, kind letter, then a
string's length as 8 bytes LE and its bytes, or a number's 8 bytes LE), in the order of ckpt_meta.c's
k_fields table, which is read from the source so that a field added there is covered here too (an
if_set field (STR_IF_SET, ID_IF_SET) that is absent or empty is left out, as ckpt_meta.c leaves it out). The
stored meta_checksum is recomputed from the unedited file first: a mismatch means this tool no longer
matches ckpt_meta.c, and it stops rather than write a file whose damage would be the wrong kind."""
import os
import re
import struct
import sys

import h5py
import numpy as np

SRC = os.environ.get("CD_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FNV_OFFSET, FNV_PRIME, MASK = 14695981039346656037, 1099511628211, (1 << 64) - 1
KIND = {"F_STR": "s", "F_I64": "i", "F_U64": "u", "F_F64": "d"}


def fnv(data, h=FNV_OFFSET):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK
    return h


def fields():
    text = open(os.path.join(SRC, "src", "ckpt", "ckpt_meta.c")).read()
    table = re.search(r"k_fields\[\]\s*=\s*\{(.*?)\};", text, re.S)
    if not table:
        sys.exit("craft_checkpoint: cannot find k_fields in ckpt_meta.c")
    # FIELD/IDENT(kind, name), and the string fields kept only when set (ID_IF_SET/STR_IF_SET(name)), in order.
    out = []
    for kind, name, optional in re.findall(r"\b(?:FIELD|IDENT)\((F_\w+),\s*(\w+)\)|\b(?:ID|STR)_IF_SET\((\w+)\)",
                                           table.group(1)):
        out.append((optional, "s", True) if optional else (name, KIND[kind], False))
    return out


def as_bytes(v):
    if isinstance(v, np.ndarray):
        v = v.item()
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def fnv_field(h, name, kind, value):
    h = fnv(name.encode() + b"\0" + kind.encode(), h)
    if kind == "s":
        s = as_bytes(value).split(b"\0", 1)[0]
        return fnv(struct.pack("<Q", len(s)) + s, h)
    pack = {"i": "<q", "u": "<Q", "d": "<d"}[kind]
    return fnv(struct.pack(pack, value.item() if hasattr(value, "item") else value), h)


def meta_checksum(attrs):
    h = fnv_field(FNV_OFFSET, "format", "s", attrs["format"])
    h = fnv_field(h, "format_version", "i", int(attrs["format_version"]))
    for name, kind, optional in fields():
        if optional and (name not in attrs or as_bytes(attrs[name]).split(b"\0", 1)[0] == b""):
            continue
        v = attrs[name]
        h = fnv_field(h, name, kind, v if kind == "s" else (float(v) if kind == "d" else int(v)))
    return h


def main():
    path, op = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r+") as f:
        if meta_checksum(f.attrs) != int(f.attrs["meta_checksum"]):
            sys.exit("craft_checkpoint: meta_checksum of the unedited file does not match: update this tool to ckpt_meta.c")
        if op == "set":
            name, value = sys.argv[3], sys.argv[4]
            kind = {n: k for n, k, _ in fields()}.get(name)
            if kind == "i":
                f.attrs[name] = np.int64(int(value))
            elif kind == "u":
                f.attrs[name] = np.uint64(int(value))
            elif kind == "d":
                f.attrs[name] = np.float64(float(value))
            else:
                sys.exit(f"craft_checkpoint: {name} is not a numeric field")
        elif op == "poke":
            what, k, value = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
            ds = f[what]
            a = np.array(ds[()], dtype="<f4")
            a.flat[k] = value
            ds[...] = a
            ds.attrs["checksum"] = np.uint64(fnv(a.tobytes()))
        else:
            sys.exit(f"craft_checkpoint: unknown operation {op}")
        f.attrs["meta_checksum"] = np.uint64(meta_checksum(f.attrs))


if __name__ == "__main__":
    main()
