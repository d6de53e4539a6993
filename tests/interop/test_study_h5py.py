"""A real study file (experiments/kfold_capacity.lua, smoke mode) loads in h5py and pandas the
way docs/results.md says, in three lines, with one summary row per trial and the aggregates of
every setting.

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
    out = os.path.join(d, "kfold_capacity.h5")
    r = subprocess.run([BIN, "run", os.path.join(ROOT, "experiments", "kfold_capacity.lua"),
                        "--set", "smoke=true", "-j", "2", "--out", out],
                       cwd=d, capture_output=True, text=True, check=False)
    check(r.returncode == 0, "moonlab run failed: " + r.stdout + r.stderr)
    # docs/results.md, "Study files": the three lines
    with h5py.File(out) as f:
        summary = pd.DataFrame(f["study/summary"][()])
        agg = pd.DataFrame(f["study/aggregates"][()])
        selected = f.attrs["selected"]
        final = pd.DataFrame(f["study/final/metrics"][()])
        trials = list(f["study/trials"])
    check(len(summary) == 4 * 3, "summary has %d rows, expected 4 degrees x 3 folds" % len(summary))
    check(list(summary.columns[:5]) == ["trial", "status", "fold", "seed", "degree"],
          "summary columns %s" % list(summary.columns))
    check((summary.status.str.decode("utf-8") == "done").all(), "every trial done")
    check(sorted(summary.trial.str.decode("utf-8")) == sorted(trials),
          "one trial group per summary row")
    check(list(agg.degree) == [1, 2, 3, 4], "aggregates per degree: %s" % list(agg.degree))
    # the aggregates are the mean over folds of the summary's rows
    means = summary.groupby("degree").val_loss.mean()
    for _, row in agg.iterrows():
        check(abs(row.val_loss_mean - means[row.degree]) <= 1e-12 * abs(means[row.degree]),
              "val_loss_mean of degree %d" % row.degree)
    best = agg.loc[agg.val_loss_mean.idxmin()]
    check(best.selected == 1 and agg.selected.sum() == 1, "the lowest mean is the one selected")
    check(selected == '{"degree":%d}' % best.degree, "root attribute selected: %s" % selected)
    check("test_loss" in final.columns and len(final) == 1, "the final evaluation's metrics")
report()
