"""Recurrent weights go between PyTorch and moonlab through HDF5 as docs/api.md ("PyTorch
weights in and out") says, checked against the PyTorch fixtures of tests/ref/recurrent.h5 (no
PyTorch needed; tests/ref/rnn_export_torch.py loads an export into torch.nn.LSTM/GRU itself).

For a 2-layer bidirectional LSTM (with initial states) and a 2-layer GRU, each fixture's PyTorch
state_dict is written to a file with h5py as the import recipe does; `moonlab run` builds a
fresh model, imports that file, runs the fixture's input and records the model with
run:params_of. The exported names, shapes and values must be PyTorch's state_dict exactly (so the
export recipe's load_state_dict gets every key it expects and nothing else), and the outputs
PyTorch's within the fixtures' tolerance.

Run by CTest with /usr/bin/python3 (Debian's python3-h5py)."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import BIN, ROOT, check, report  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "ref", "recurrent.h5")
CASES = {  # fixture case -> the moonlab layer that rebuilds it
    "lstm_bidirectional_2layers":
        'ml.nn.lstm { ["in"] = 3, hidden = 4, layers = 2, bidirectional = true, sequence = true }',
    "gru_2layers_sequence": 'ml.nn.gru { ["in"] = 3, hidden = 4, layers = 2, sequence = true }',
}

SCRIPT = """
local ml = require "moonlab"
local cfg = ml.config { fixture = "", dir = "" }
local fx = assert(ml.core.rfile.open(cfg.fixture))
local function import(model, path) -- the import recipe of docs/api.md
  local f = assert(ml.core.rfile.open(path))
  for name, view in pairs(model:named_parameters()) do view:copy(f:tensor("/" .. name)) end
  f:close()
end
for case, layer in pairs { %s } do
  local model = ml.nn.sequential { layer }
  import(model, cfg.dir .. "/" .. case .. ".h5")
  local g = "/cases/" .. case .. "/"
  if fx:kind(g .. "h0") then
    model:set_state(1, fx:tensor(g .. "h0"), fx:kind(g .. "c0") and fx:tensor(g .. "c0") or nil)
  end
  ml.results.run(case):params_of(model)
  ml.results.run(case .. "_output"):param("y", model:forward(fx:tensor(g .. "x")))
end
""" % ", ".join("%s = %s" % (case, layer) for case, layer in CASES.items())


def floored_rel(got, want):
    """The fixtures' measure: max |got - want| / max(|want|, 1e-3 max |want|)."""
    scale = np.abs(want).max()
    return float((np.abs(got - want) / np.maximum(np.abs(want), 1e-3 * scale)).max())


with h5py.File(FIXTURE, "r") as fx, tempfile.TemporaryDirectory() as d:
    torch_state = {}
    for case in CASES:
        g = fx["cases"][case]
        names, shapes = list(g.attrs["param_names"]), list(g.attrs["param_shapes"])
        flat = g["params"][()]
        state, at = {}, 0
        for name, shape in zip(names, shapes):
            shape = tuple(int(s) for s in shape.split(","))
            n = int(np.prod(shape))
            state[name] = flat[at:at + n].reshape(shape).astype(np.float32)
            at += n
        check(at == flat.size, "%s: the named parameters cover params" % case)
        torch_state[case] = state
        # the import recipe: net.state_dict() written under moonlab's names, "1." + PyTorch's
        with h5py.File(os.path.join(d, case + ".h5"), "w") as f:
            for k, v in state.items():
                f["1." + k] = v

    script = os.path.join(d, "export.lua")
    with open(script, "w") as s:
        s.write(SCRIPT)
    out = os.path.join(d, "export.h5")
    proc = subprocess.run([BIN, "run", script, "--out", out, "--set", "fixture=" + FIXTURE,
                           "--set", "dir=" + d], capture_output=True, text=True)
    check(proc.returncode == 0, "moonlab run exits 0: " + proc.stderr)

    with h5py.File(out, "r") as f:
        for case, want in torch_state.items():
            p = f["runs/%s/params" % case]
            check(sorted(p.keys()) == sorted("1." + k for k in want),
                  "%s: exported names are 1. + PyTorch's: %s" % (case, sorted(p.keys())))
            # the export recipe: strip the layer index, and the dict is a PyTorch state_dict
            state = {k.split(".", 1)[1]: p[k][()] for k in p if k.startswith("1.")}
            check(sorted(state) == sorted(want), "%s: state_dict keys" % case)
            for k, v in want.items():
                got = state.get(k)
                check(got is not None and got.dtype == np.float32 and got.shape == v.shape,
                      "%s: %s is float32 %s (PyTorch's shape), got %s" %
                      (case, k, v.shape, None if got is None else (got.dtype, got.shape)))
                check(got is not None and np.array_equal(got, v),
                      "%s: %s round-trips bit for bit" % (case, k))
            y = f["runs/%s_output/params/y" % case][()]
            want_y = fx["cases"][case]["y"][()]
            check(y.shape == want_y.shape, "%s: output %s, PyTorch's %s" % (case, y.shape,
                                                                             want_y.shape))
            if y.shape == want_y.shape:
                err = floored_rel(y.astype(np.float64), want_y)
                print("%s: output off PyTorch's by %.3g (floored relative error)" % (case, err))
                check(err <= 1e-4, "%s: output within 1e-4 of PyTorch's, got %.3g" % (case, err))

report()
