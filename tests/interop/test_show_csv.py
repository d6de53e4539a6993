"""`moonlab show --csv` gives the table pandas reads from the file itself: a study's aggregates
(a study-shaped file written by tests/lua/study_fixture.lua) and a run file's metrics (from
`moonlab run experiments/poly_fit.lua`), same columns, same values to the last bit.

Run by CTest with /usr/bin/python3 (Debian's python3-h5py and python3-pandas)."""
import io
import math
import os
import subprocess
import sys
import tempfile

import h5py
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import BIN, ROOT, check, report  # noqa: E402

# Run by the moonlab command (so that it works in the sanitizer build too), with
# tests/lua on LUA_PATH (CTest's environment) for the fixture writer.
MAKE_STUDY = r"""
local ml = require "moonlab"
local cfg = ml.config { path = "" }
local fx = require "study_fixture"
local trials = {}
for _, d in ipairs { 1, 2, 4 } do
  for fold = 1, 3 do
    local failed = d == 4 and fold == 3
    trials[#trials + 1] = { params = { degree = d, cell = d == 2 and "gru, \"big\"" or "rnn" },
      fold = fold, status = failed and "failed" or "done", error = failed and "boom" or "",
      metrics = not failed and { train_loss = 1 / (d + fold), val_loss = 1 / d + fold / 7 } or nil }
  end
end
fx.write(cfg.path, { study = "interop", params = { "degree", "cell" }, trials = trials,
  select_metric = "val_loss", select_goal = "min" })
"""


def show_csv(path):
    proc = subprocess.run([BIN, "show", path, "--csv"], capture_output=True, text=True)
    check(proc.returncode == 0, "moonlab show --csv exits 0: " + proc.stderr)
    # round_trip: pandas' default float parser may be off in the last bit
    return pd.read_csv(io.StringIO(proc.stdout), keep_default_na=False, na_values=[""],
                       float_precision="round_trip")


def same_value(a, b):
    if isinstance(b, bytes):
        b = b.decode()
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    return a == b


def compare(shown, stored, what):
    check(list(shown.columns) == list(stored.columns),
          "%s: columns %s == %s" % (what, list(shown.columns), list(stored.columns)))
    check(len(shown) == len(stored), "%s: %d rows == %d" % (what, len(shown), len(stored)))
    if list(shown.columns) != list(stored.columns) or len(shown) != len(stored):
        return
    for col in stored.columns:
        for i in range(len(stored)):
            a, b = shown[col].iloc[i], stored[col].iloc[i]
            check(same_value(a, b), "%s: %s row %d: %r == %r" % (what, col, i, a, b))


with tempfile.TemporaryDirectory() as d:
    study = os.path.join(d, "study.h5")
    maker = os.path.join(d, "make_study.lua")
    with open(maker, "w") as f:
        f.write(MAKE_STUDY)
    proc = subprocess.run([BIN, "run", maker, "--set", "path=" + study, "--out",
                           os.path.join(d, "maker.h5")], capture_output=True, text=True)
    check(proc.returncode == 0, "the study fixture is written: " + proc.stderr)
    with h5py.File(study, "r") as f:
        agg = pd.DataFrame(f["study/aggregates"][()])
    compare(show_csv(study), agg, "study aggregates")
    check(agg["selected"].sum() == 1, "one setting is selected")

    run = os.path.join(d, "poly.h5")
    proc = subprocess.run([BIN, "run", os.path.join(ROOT, "experiments", "poly_fit.lua"),
                           "--set", "smoke=true", "--out", run], capture_output=True, text=True)
    check(proc.returncode == 0, "moonlab run poly_fit: " + proc.stderr)
    with h5py.File(run, "r") as f:
        names = sorted(f["runs"].keys())
        metrics = pd.concat([pd.DataFrame(f["runs/%s/metrics" % r][()]) for r in names],
                            ignore_index=True)
    # show puts the run name first and the union of metric columns after it, in order of
    # first appearance (every run's table is sorted by name)
    metrics.insert(0, "run", names)
    shown = show_csv(run)
    compare(shown, metrics[list(shown.columns)] if set(shown.columns) == set(metrics.columns)
            else metrics, "run metrics")

report()
