#!/usr/bin/python3
"""Single-byte flips over an HDF5 file, each damaged copy handed to cnn_ddp's readers.

Used by test_fuzz_hdf5.sh. The bytes of the file are split, with h5py, into raw data (the stored
bytes of every dataset: contiguous extents and chunks) and metadata (everything else: superblock,
object headers, heaps, B-trees, chunk indexes, free space). `--flips` offsets are drawn from the
metadata and `--raw-flips` from the raw data, with a fixed seed, so a failure is reproducible. Each
damaged copy is run through every command (the file's path replaces {}) under `timeout`; the only
acceptable exit statuses are 0, 1 and 2: a refusal or an error, never a signal or a hang.

Exit status 0 when every run passed, 1 with one line per failure (offset, byte, command, status)
and a shell reproducer for the first ones.
"""
import argparse
import concurrent.futures
import os
import random
import shlex
import subprocess
import sys

import h5py


def raw_ranges(path):
    """[start, end) byte ranges of every dataset's stored data."""
    ranges = []

    def visit(_name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        dsid = obj.id
        if obj.chunks is None:
            off = dsid.get_offset()
            if off is not None:
                ranges.append((off, off + dsid.get_storage_size()))
            return
        for i in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(i)
            ranges.append((info.byte_offset, info.byte_offset + info.size))

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return sorted(ranges)


def split_offsets(size, ranges):
    raw = bytearray(size)
    for a, b in ranges:
        raw[a:b] = b"\x01" * (b - a)
    meta = [i for i in range(size) if not raw[i]]
    data = [i for i in range(size) if raw[i]]
    return meta, data


def run_one(args, offset, xor, original):
    path = os.path.join(args.work, f"flip-{offset}.h5")
    damaged = bytearray(original)
    damaged[offset] ^= xor
    with open(path, "wb") as f:
        f.write(damaged)
    failures = []
    for template in args.command:
        cmd = ["timeout", "-k", "5", str(args.timeout)] + [path if w == "{}" else w for w in shlex.split(template)]
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=args.work, timeout=args.timeout + 15)
            rc, err = p.returncode, p.stderr.decode(errors="replace").strip().splitlines()
        except subprocess.TimeoutExpired:
            rc, err = "hang", []
        if rc not in (0, 1, 2):
            failures.append((offset, xor, template, rc, err[-1] if err else ""))
    os.unlink(path)
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--flips", type=int, default=300, help="flips in metadata bytes")
    ap.add_argument("--raw-flips", type=int, default=0, help="flips in raw data bytes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=20)
    ap.add_argument("--work", required=True)
    ap.add_argument("--command", action="append", required=True,
                    help="a command line; {} is the damaged file (repeatable)")
    args = ap.parse_args()

    with open(args.file, "rb") as f:
        original = f.read()
    meta, data = split_offsets(len(original), raw_ranges(args.file))
    rng = random.Random(args.seed)
    picks = rng.sample(meta, min(args.flips, len(meta))) + rng.sample(data, min(args.raw_flips, len(data)))
    flips = [(off, rng.randrange(1, 256)) for off in sorted(picks)]

    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for result in pool.map(lambda fx: run_one(args, fx[0], fx[1], original), flips):
            failures.extend(result)

    name = os.path.basename(args.file)
    print(f"{name}: {len(original)} bytes, {len(meta)} of metadata; {len(flips)} flips "
          f"({min(args.flips, len(meta))} metadata, {min(args.raw_flips, len(data))} raw data), "
          f"{len(flips) * len(args.command)} runs, seed {args.seed}: {len(failures)} failed")
    for offset, xor, template, rc, last in failures:
        print(f"  offset {offset} (xor 0x{xor:02x}): status {rc}: {template}  [{last}]")
    for offset, xor, template, rc, _ in failures[:3]:
        print("  reproduce: cp {0} /tmp/bad.h5 && /usr/bin/python3 -c \"f=open('/tmp/bad.h5','r+b'); f.seek({1}); "
              "b=f.read(1)[0]; f.seek({1}); f.write(bytes([b^{2}]))\" && {3}".format(
                  shlex.quote(os.path.abspath(args.file)), offset, xor, template.replace("{}", "/tmp/bad.h5")))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
