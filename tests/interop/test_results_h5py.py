"""A result file written by `moonlab run` opens with h5py and pandas as docs/results.md says.

Run by CTest with /usr/bin/python3 (Debian's python3-h5py and python3-pandas)."""
import os
import subprocess
import sys
import tempfile

import h5py
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import BIN, ROOT, check, report  # noqa: E402


with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "poly.h5")
    script = os.path.join(ROOT, "experiments", "poly_fit.lua")
    proc = subprocess.run([BIN, "run", script, "--out", out, "--seed", "3", "--set", "epochs=20"],
                          capture_output=True, text=True)
    check(proc.returncode == 0, "moonlab run exits 0: " + proc.stderr)
    check(sorted(os.listdir(d)) == ["poly.h5"], "only the final file is left: %s" % os.listdir(d))

    with h5py.File(out, "r") as f:
        attrs = dict(f.attrs)
        for key in ["moonlab_version", "script", "script_sha256", "config", "seed", "started",
                    "finished", "host", "lua_version", "blis_version", "hdf5_version",
                    "git_commit", "threads"]:
            check(key in attrs, "root attribute %s" % key)
        check(isinstance(attrs["script"], str), "string attributes read back as str")
        check(attrs["seed"] == 3, "seed attribute is the --seed value")
        check('"epochs":20' in attrs["config"], "config records the --set override")
        check(len(attrs["script_sha256"]) == 64, "script SHA-256 is 64 hex digits")
        import hashlib
        with open(script, "rb") as s:
            check(attrs["script_sha256"] == hashlib.sha256(s.read()).hexdigest(),
                  "script SHA-256 matches the script")

        check(sorted(f["runs"].keys()) == ["normal", "overfit", "underfit"], "one group per run")
        hist = pd.DataFrame(f["runs/normal/history"][()])
        check(len(hist) == 20, "history has one row per epoch")
        check(list(hist["epoch"]) == list(range(1, 21)), "epoch column counts 1..20")
        check(hist["epoch"].dtype.kind == "i", "epoch is an integer column")
        for col in ["loss", "train_loss", "test_loss", "lr", "grad_norm", "seconds"]:
            check(col in hist.columns and hist[col].dtype.kind == "f", "float column " + col)
        check(hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0], "train loss falls")

        metrics = pd.DataFrame(f["runs/normal/metrics"][()])
        check(len(metrics) == 1, "metrics is one row")
        for col in ["train_loss", "test_loss", "bias", "w1", "w2", "w3"]:
            check(col in metrics.columns, "metric " + col)
        w = f["runs/normal/params/1.weight"][()]
        check(w.shape == (1, 3) and w.dtype == "float32", "weight (1,3) float32")
        check(abs(float(w[0, 0]) - metrics["w1"][0]) < 1e-6, "saved weight equals the metric")
        check(f["runs/underfit/params/1.weight"].shape == (1, 1), "underfit weight (1,1)")
        check(dict(f["runs/overfit"].attrs)["train_samples"] == 2, "run attributes")

    # A failing script keeps what it logged, marked failed; one that logged nothing leaves
    # nothing behind; neither leaves a temporary file.
    bad = os.path.join(d, "bad.lua")
    with open(bad, "w") as s:
        s.write("local ml = require 'moonlab'\nml.results.run('r'):metric('x', 1)\nerror('stop')\n")
    out2 = os.path.join(d, "bad.h5")
    proc = subprocess.run([BIN, "run", bad, "--out", out2], capture_output=True, text=True)
    check(proc.returncode == 1, "failing script exits 1")
    with h5py.File(out2, "r") as f:
        a = dict(f.attrs)
        check(a["status"] == "failed", "failed script's file: status failed")
        check(a["error"].endswith("bad.lua:3: stop"), "failed script's file: the error, %r" % a["error"])
        check(f["runs/r/metrics"][0]["x"] == 1, "failed script's file: the metric logged before the error")
    empty = os.path.join(d, "empty.lua")
    with open(empty, "w") as s:
        s.write("error('stop')\n")
    proc = subprocess.run([BIN, "run", empty, "--out", os.path.join(d, "empty.h5")],
                          capture_output=True, text=True)
    check(proc.returncode == 1, "failing script exits 1")
    check(not any(n.endswith(".h5") and n not in ("poly.h5", "bad.h5") or ".tmp" in n
                  for n in os.listdir(d)),
          "failing scripts leave no temporary file, and no file when nothing was logged: %s"
          % os.listdir(d))

report()
