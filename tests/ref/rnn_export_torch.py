"""Export from moonlab into PyTorch, end to end: moonlab builds a 2-layer bidirectional LSTM and a
2-layer GRU (its own initialisation), runs them on a random input and records them with
run:params_of; this script loads each into torch.nn.LSTM / torch.nn.GRU with the export recipe
of docs/api.md ("PyTorch weights in and out"), runs the same input in float64 and compares the
outputs and final states: max |moonlab - PyTorch| / max(|PyTorch|, 1e-3 max |PyTorch|) <= 1e-4
per array (the measure of tests/c/test_rnn_reference.c).

Needs PyTorch (Debian python3-torch: `bash .ci/setup bench` installs it), so it is not part of
the test suite; tests/interop/test_rnn_export_h5py.py checks the same export against the
committed PyTorch fixtures without it. Run from the repository root after building:
    /usr/bin/python3 tests/ref/rnn_export_torch.py
(MOONLAB_BIN names another moonlab executable). Prints one line per array and exits non-zero
on any failure."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("MOONLAB_BIN", os.path.join(ROOT, "build", "moonlab"))

SCRIPT = """
local ml = require "moonlab"
local x = ml.core.rng.new(7):normal({ 4, 6, 3 }, 0, 1) -- (B,T,D)
ml.results.run("input"):param("x", x)
local models = {
  lstm = ml.nn.sequential({ ml.nn.lstm { ["in"] = 3, hidden = 5, layers = 2, bidirectional = true,
                                         sequence = true } }, { seed = 1 }),
  gru = ml.nn.sequential({ ml.nn.gru { ["in"] = 3, hidden = 4, layers = 2, sequence = true } },
                         { seed = 2 }),
}
for name, model in pairs(models) do
  ml.results.run(name):params_of(model)
  local out = ml.results.run(name .. "_output"):param("y", model:forward(x))
  local hn, cn = model:final_state(1)
  out:param("hn", hn)
  if cn then out:param("cn", cn) end
end
"""


def export(d):
    """moonlab's result file with both models, written into directory d."""
    script, out = os.path.join(d, "export.lua"), os.path.join(d, "export.h5")
    with open(script, "w") as s:
        s.write(SCRIPT)
    proc = subprocess.run([BIN, "run", script, "--out", out], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("moonlab run failed:\n" + proc.stderr)
    return out


def floored_rel(got, want):
    scale = np.abs(want).max()
    return float((np.abs(got - want) / np.maximum(np.abs(want), 1e-3 * scale)).max())


def main():
    try:
        import torch
    except ImportError:
        sys.exit("rnn_export_torch.py needs PyTorch: apt-get install python3-torch "
                 "(or bash .ci/setup bench)")
    failures = 0
    with tempfile.TemporaryDirectory() as d, h5py.File(export(d), "r") as f:
        x = torch.from_numpy(f["runs/input/params/x"][()]).double()
        nets = {"lstm": torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True),
                "gru": torch.nn.GRU(3, 4, num_layers=2, batch_first=True)}
        for name, net in nets.items():
            # the export recipe of docs/api.md
            p = f["runs/%s/params" % name]
            state = {k.split(".", 1)[1]: torch.from_numpy(p[k][()]) for k in p if k.startswith("1.")}
            net.load_state_dict(state)  # strict: every key of PyTorch's, with its shape
            net.double()  # float32 weights exactly, computed in float64
            with torch.no_grad():
                y, final = net(x)
            hn, cn = final if name == "lstm" else (final, None)
            out = f["runs/%s_output/params" % name]
            for key, want in (("y", y), ("hn", hn), ("cn", cn)):
                if want is None:
                    continue
                got = out[key][()].astype(np.float64)
                want = want.numpy()
                err = floored_rel(got, want) if got.shape == want.shape else float("inf")
                ok = err <= 1e-4
                failures += not ok
                print("%-4s %-3s moonlab %s, PyTorch %s: max relative error %.3g%s" %
                      (name, key, got.shape, want.shape, err, "" if ok else "  FAILED (> 1e-4)"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
