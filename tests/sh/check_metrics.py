"""check_metrics.py FILE [val|test]: every line of a cnn_ddp --metrics file is one JSON object with
unique keys (duplicates rejected while decoding), "type" first and an ISO-8601 UTC "time"; values have
their documented types; each epoch record has the held-out accuracy and loss (val_* with --val-rows,
else test_*) and the lr. Prints "records N epochs E" or fails naming the line."""
import datetime
import json
import sys

path, held = sys.argv[1], sys.argv[2]


def unique(pairs):
    keys = [k for k, _ in pairs]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError("duplicate keys %s" % dup)
    return dict(pairs)


NUM = (int, float)
TYPES = {
    "config": {"world_size": int, "device": str, "data": str, "model": str, "epochs": int, "batch": int,
               "lr": NUM, "momentum": NUM, "seed": int, "lr_schedule": str},
    "step": {"step": int, "loss": NUM, "lr": NUM},
    "epoch": {"epoch": int, "step": int, "train_loss": NUM, "train_acc": NUM, held + "_acc": NUM,
              held + "_loss": NUM, "lr": NUM, "img_per_s": NUM, "elapsed_s": NUM, "world_size": int, "device": str},
    "note": {},
    "segment": {"ranks": int, "from_step": int, "event": str, "history": str},
    "final": {"step": int, "elapsed_s": NUM},
}
counts = {}
with open(path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        try:
            rec = json.loads(line, object_pairs_hook=unique)
        except ValueError as e:
            sys.exit("%s:%d: not JSON with unique keys: %s: %s" % (path, n, e, line.strip()))
        if not line.startswith('{"type":') or rec.get("type") not in TYPES:
            sys.exit("%s:%d: no known \"type\" first: %s" % (path, n, line.strip()))
        t = rec["type"]
        counts[t] = counts.get(t, 0) + 1
        stamp = rec.get("time")
        if not isinstance(stamp, str) or not stamp.endswith("Z"):
            sys.exit("%s:%d: no ISO-8601 UTC time: %s" % (path, n, line.strip()))
        datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
        for key, want in TYPES[t].items():
            v = rec.get(key)
            if v is None or isinstance(v, bool) or not isinstance(v, want):
                sys.exit("%s:%d: %s record: %s is %r, expected %s" % (path, n, t, key, v, want))
        other = "test" if held == "val" else "val"
        if t == "epoch" and (other + "_acc") in rec:
            sys.exit("%s:%d: epoch record has %s_acc too" % (path, n, other))
if counts.get("config") != 1 or not counts.get("epoch") or counts.get("final") != 1:
    sys.exit("%s: records %s: expected one config, epochs, one final" % (path, counts))
print("records %d epochs %d" % (sum(counts.values()), counts["epoch"]))
