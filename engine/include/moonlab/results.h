/* HDF5 result files (schema: docs/results.md). A file is built in memory, written under a
 * temporary name beside the final path and renamed into place by ml_results_commit, so a crash
 * or kill never leaves a half-written result at the final path. HDF5 itself never writes to the
 * disk: a full disk or a read-only directory is one error from create or commit (ML_ESTORAGE,
 * naming the path and the cause), never a failure inside libhdf5. Memory: the file's size while
 * it is written, twice that during commit. Object paths are absolute ("/runs/normal/history");
 * missing parent groups are created. */
#ifndef MOONLAB_RESULTS_H
#define MOONLAB_RESULTS_H

#include <stdint.h>
#include "moonlab/tensor.h"

typedef struct ml_results ml_results_t;

typedef enum { ML_COL_INT64 = 0, ML_COL_FLOAT64, ML_COL_STRING } ml_col_type_t;

typedef struct ml_column {
    const char *name;
    ml_col_type_t type;
    const void *data;   /* (nrows) int64_t, double, or const char * (NUL-terminated) */
} ml_column_t;

/* Check that the final path's directory exists and is writable, then create the temporary
 * file ".<name>.tmp-<pid>" beside it; the final path is not touched until commit. On failure
 * *out is NULL and the message names the path (ML_EIO; ML_ESTORAGE when the file system refuses
 * the write: no space or quota left, read-only, no permission) or the bad argument (ML_EARG).
 * Not thread-safe: the serial HDF5 library must be used from one thread at a time. */
int ml_results_create(ml_results_t **out, const char *path);
/* A group and its missing parents; an existing group is fine, any other object is ML_EARG. */
int ml_results_group(ml_results_t *r, const char *path);
/* Scalar attributes on a group or dataset (created as a group if missing); an attribute of
 * the same name is replaced whatever its type. Strings are stored variable-length UTF-8
 * (h5py reads them as str); doubles as IEEE F64LE, integers as STD I64LE. */
int ml_results_attr_string(ml_results_t *r, const char *obj, const char *name, const char *v);
int ml_results_attr_double(ml_results_t *r, const char *obj, const char *name, double v);
int ml_results_attr_int64(ml_results_t *r, const char *obj, const char *name, int64_t v);
/* A compound dataset of nrows (>= 0) rows, one field per column in order (a tidy table):
 * int64 as STD I64LE, float64 as IEEE F64LE, string as variable-length UTF-8 (h5py gives
 * bytes for these; decode as UTF-8). Column names must be distinct, string cells non-NULL.
 * The data is copied; the caller keeps ownership. An existing object at path is ML_EARG. */
int ml_results_table(ml_results_t *r, const char *path, int ncols, const ml_column_t *cols,
                     int64_t nrows);
/* A float32 (IEEE F32LE) dataset with the tensor's shape, in row-major order of the tensor as
 * seen (views are packed first); ndim 0 gives a scalar dataset. An existing object at path is
 * ML_EARG. */
int ml_results_tensor(ml_results_t *r, const char *path, const ml_tensor_t *t);
/* A 1-D int64 (STD I64LE) dataset of the n values v[0..n) (n >= 0; v may be NULL when n is
 * 0), copied as they are (index sets are written 1-based by the binding). An existing object
 * at path is ML_EARG. */
int ml_results_int64(ml_results_t *r, const char *path, const int64_t *v, int64_t n);
/* Copy the object (group with everything under it, or dataset) at src_path in the HDF5 file
 * src_file to dst_path in r (parents created). src_file is opened through ml_rfile_open, so it
 * gets the reader's checks before libhdf5 sees it. Fails with a message naming both when the
 * source is missing, unreadable or malformed, or dst_path exists. */
int ml_results_copy(ml_results_t *r, const char *dst_path, const char *src_file,
                    const char *src_path);
/* Write the file, fsync and rename it into place (replacing an older file), then fsync the
 * directory. On failure the temporary file is deleted, an older file at the final path stays as
 * it was, and the message names the final path and the cause (ML_ESTORAGE when the file system
 * refused the write, as for create). Frees r whatever the outcome. A failed write before
 * commit leaves r usable. */
int ml_results_commit(ml_results_t *r);
/* Close and delete the temporary file; frees r. A no-op on NULL. */
void ml_results_abort(ml_results_t *r);

/* Version string of the HDF5 library in use ("1.10.8"). */
const char *ml_results_hdf5_version(void);

#endif
