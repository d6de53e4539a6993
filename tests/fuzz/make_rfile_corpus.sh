#!/usr/bin/env bash
# Writes the seed corpus of fuzz_rfile (tests/fuzz/corpus/rfile/): small real result files
# and a few HDF5 files with what moonlab does not write (fixed-length strings, enums, other
# number types, compression, links, a user block), so that the fuzzer starts from every path
# of the reader. Run from anywhere after a build: bash tests/fuzz/make_rfile_corpus.sh
# Needs build/moonlab, lua5.4 and /usr/bin/python3 with h5py (only to make the corpus).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus/rfile
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# a run file from moonlab run: history, metrics, a parameter, a split, run attributes
cat >"$tmp/tiny.lua" <<'LUA'
local ml = require "moonlab"
local r = ml.results.run("a")
r:attr("note", "tiny")
for e = 1, 3 do r:log { epoch = e, loss = 1 / e, val_loss = 1.5 / e, tag = "x" .. e } end
r:metrics { train_loss = 0.25, val_loss = 0.5 }
r:param("w", ml.tensor.from { { 1, 2 }, { 3, 4 } })
r:split("folds", ml.split.kfold(6, 2))
LUA
build/moonlab run "$tmp/tiny.lua" --out "$out/run-tiny.h5" >/dev/null

# a study file laid out as docs/results.md says (tests/lua/study_fixture.lua)
LUA_PATH="lua/?.lua;lua/?/init.lua;tests/lua/?.lua;;" LUA_CPATH="build/lua/?.so;;" lua5.4 - "$out/study-small.h5" <<'LUA'
local fx = require "study_fixture"
local trials = {}
for _, d in ipairs { 1, 2 } do
  for fold = 1, 2 do
    trials[#trials + 1] = { params = { degree = d, cell = "gru" }, fold = fold, status = fold == 2 and d == 2 and "failed" or "done",
      error = fold == 2 and d == 2 and "boom" or "",
      history = { { epoch = 1, loss = 1.0, train_loss = 0.9, val_loss = 1.1 }, { epoch = 2, loss = 0.5, train_loss = 0.4, val_loss = 0.6 } },
      metrics = { train_loss = 0.4 / d, val_loss = 0.6 / d + fold * 0.01 } }
  end
end
fx.write(arg[1], { study = "small", params = { "degree", "cell" }, trials = trials, select_metric = "val_loss",
  select_goal = "min", final = { params = { degree = 1, cell = "gru" }, metrics = { test_loss = 0.7 } } })
LUA

# what moonlab does not write, from h5py
/usr/bin/python3 - "$out" <<'PY'
import sys, h5py, numpy as np
out = sys.argv[1]
with h5py.File(out + "/odd-types.h5", "w", userblock_size=512) as f:
    f.attrs["flag"] = True                                   # enum
    f.attrs["fixed"] = np.bytes_("abc")                      # fixed-length string
    f.attrs["vector"] = np.arange(3.0)                       # an array, not a value
    f.attrs["half"] = np.float16(0.5)
    rows = np.array([(1, 0.5, b"ab"), (2, 1.5, b"cd")],
                    dtype=[("i", "<i2"), ("x", ">f4"), ("s", "S2")])
    f.create_dataset("table", data=rows, chunks=(1,), compression="gzip")
    f.create_dataset("matrix", data=np.arange(6, dtype="u1").reshape(2, 3))
    g = f.create_group("g")
    g["soft"] = h5py.SoftLink("/matrix")
    g["ext"] = h5py.ExternalLink("other.h5", "/x")
    g["hard"] = f["matrix"]
    f["g/cycle"] = g                                          # a hard link back up
PY
ls -l "$out"
