"""Writes the seed corpus of fuzz_h5data (tests/fuzz/corpus/h5data/): small HDF5 files made
with h5py that reach each path of the reader (every accepted type, chunked and compressed
storage, old and new file formats, attributes) and each refusal (strings, scalars, ranks,
mismatched rows, NaN). Run once with Debian's python3-h5py:
    /usr/bin/python3 tests/fuzz/make_h5data_corpus.py
The moonlab-written seed (saved-by-moonlab) comes from ml.data.save (see the README there)."""
import os

import h5py
import numpy as np

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "h5data")
os.makedirs(out, exist_ok=True)


def make(name, fill, **kw):
    path = os.path.join(out, name)
    with h5py.File(path, "w", **kw) as f:
        fill(f)


def plain(f):
    f["x"] = np.arange(12, dtype="<f4").reshape(4, 3)
    f["y"] = np.array([0, 1, 2, 1], dtype="u1")
    f["weights"] = np.array([1, 0.5, 2, 1], dtype="<f4")
    f.attrs["classes"] = "a\nb\nc"
    f.attrs["rows"] = np.int64(4)


make("plain-f32-u8", plain)
make("latest-format", plain, libver="latest")
make("types", lambda f: (
    f.create_dataset("x", data=np.arange(6, dtype=">f8").reshape(3, 2)),
    f.create_dataset("y", data=np.array([-1, 0, 1], dtype=">i2")),
    f.create_dataset("weights", data=np.array([1, 2, 3], dtype="<i8"))))
make("chunked-gzip", lambda f: (
    f.create_dataset("x", data=np.arange(40, dtype="<f4").reshape(10, 4), chunks=(3, 4),
                     compression="gzip", shuffle=True),
    f.create_dataset("y", data=np.arange(10, dtype="<u4"), chunks=(5,), fletcher32=True)))
make("four-dims", lambda f: f.create_dataset("x", data=np.ones((2, 1, 2, 3), dtype="<f4")))
make("in-group", lambda f: (f.create_group("g"), f.create_dataset("g/x", data=[1.0]),
                            f.create_dataset("x", data=np.zeros((1, 1), "<f4"))))
make("strings", lambda f: f.create_dataset("x", data=np.array([b"ab", b"cd"])))
make("scalar", lambda f: f.create_dataset("x", data=np.float32(3)))
make("five-dims", lambda f: f.create_dataset("x", data=np.zeros((1, 1, 1, 1, 2), "<f4")))
make("rows-differ", lambda f: (f.create_dataset("x", data=np.zeros((3, 2), "<f4")),
                               f.create_dataset("y", data=np.zeros(2, "<f4"))))
make("nan", lambda f: f.create_dataset("x", data=np.array([1, np.nan], "<f4")))
make("f64-too-big", lambda f: f.create_dataset("x", data=np.array([1, 1e300], "<f8")))
make("compound", lambda f: f.create_dataset("x", data=np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])))
make("empty-rows", lambda f: f.create_dataset("x", data=np.zeros((0, 3), "<f4")))
make("x-is-group", lambda f: f.create_group("x"))
