"""Splits recorded with run:split are in the result file as docs/results.md says: one group per
fold under /runs/<run>/splits/<name>/, int64 datasets of 1-based row numbers, with the folds,
kind and samples attributes; the recorded k-folds are scikit-learn's indices plus one.

Run by CTest with /usr/bin/python3 (Debian's python3-h5py, python3-sklearn)."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import BIN, ROOT, check, report  # noqa: E402


SCRIPT = """
local ml = require "moonlab"
local labels = {}
for i = 1, 30 do labels[i] = (i * 7) % 3 end
local ds = ml.data.dataset(ml.tensor.zeros(30, 2), ml.tensor.from(labels))
local run = ml.results.run("cv")
run:split("kfold", ml.split.kfold(ds, 4))
run:split("strat", ml.split.stratified_kfold(ds, 3))
run:split("shuffled", ml.split.kfold(ds, 5, { shuffle = true, seed = 9 }))
run:split("hold", ml.split.holdout(ds, { train = 0.5, val = 0.2, test = 0.3, seed = 2 }))
run:split("mine", { { train = ml.data.index { 4, 5 }, test = ml.data.index { 1 } } })
"""

with tempfile.TemporaryDirectory() as d:
    script = os.path.join(d, "splits.lua")
    with open(script, "w") as f:
        f.write(SCRIPT)
    out = os.path.join(d, "splits.h5")
    proc = subprocess.run([BIN, "run", script, "--out", out], capture_output=True, text=True)
    check(proc.returncode == 0, "moonlab run exits 0: " + proc.stderr)

    labels = np.array([(i * 7) % 3 for i in range(1, 31)])
    with h5py.File(out, "r") as f:
        s = f["runs/cv/splits"]
        check(sorted(s.keys()) == ["hold", "kfold", "mine", "shuffled", "strat"], "one group per split")

        k = s["kfold"]
        attrs = dict(k.attrs)
        check(attrs.get("folds") == 4 and attrs.get("kind") == "kfold" and attrs.get("samples") == 30,
              "kfold attributes: %s" % attrs)
        check(sorted(k.keys(), key=int) == ["1", "2", "3", "4"], "fold groups 1..4")
        for i, (tr, te) in enumerate(KFold(4).split(np.zeros(30))):
            train, test = k["%d/train" % (i + 1)], k["%d/test" % (i + 1)]
            check(train.dtype == np.int64 and train.ndim == 1, "train is 1-D int64")
            check(np.array_equal(train[()], tr + 1), "kfold fold %d train is sklearn's + 1" % (i + 1))
            check(np.array_equal(test[()], te + 1), "kfold fold %d test is sklearn's + 1" % (i + 1))

        st = s["strat"]
        for i, (tr, te) in enumerate(StratifiedKFold(3).split(np.zeros(30), labels)):
            check(np.array_equal(st["%d/test" % (i + 1)][()], te + 1),
                  "stratified fold %d test is sklearn's + 1" % (i + 1))

        sh = s["shuffled"]
        tests = np.concatenate([sh["%d/test" % i][()] for i in range(1, 6)])
        check(np.array_equal(np.sort(tests), np.arange(1, 31)), "shuffled test sets cover 1..30 once")
        for i in range(1, 6):
            check(not set(sh["%d/train" % i][()]) & set(sh["%d/test" % i][()]),
                  "shuffled fold %d: train and test apart" % i)

        h = s["hold/1"]
        check(sorted(h.keys()) == ["test", "train", "val"], "holdout has train, val and test")
        check((len(h["train"]), len(h["val"]), len(h["test"])) == (15, 6, 9), "holdout sizes 15/6/9")
        allrows = np.concatenate([h["train"][()], h["val"][()], h["test"][()]])
        check(np.array_equal(np.sort(allrows), np.arange(1, 31)), "holdout sets cover 1..30 once")
        check(dict(s["hold"].attrs).get("kind") == "holdout", "holdout kind attribute")

        m = s["mine"]
        check(dict(m.attrs).get("folds") == 1 and "kind" not in m.attrs, "a plain list: folds only")
        check(list(m["1/train"][()]) == [4, 5] and list(m["1/test"][()]) == [1], "plain list rows")

report()
