/* HDF5 result files (schema: docs/results.md). A file is written under a temporary name beside
 * the final path and renamed into place by ml_results_commit, so a crash or kill never leaves a
 * half-written result at the final path. Object paths are absolute ("/runs/normal/history");
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

/* Check that the final path's directory is writable and open the temporary file. */
int ml_results_create(ml_results_t **out, const char *path);
int ml_results_group(ml_results_t *r, const char *path);
/* Attributes on a group or dataset (created as a group if missing). */
int ml_results_attr_string(ml_results_t *r, const char *obj, const char *name, const char *v);
int ml_results_attr_double(ml_results_t *r, const char *obj, const char *name, double v);
int ml_results_attr_int64(ml_results_t *r, const char *obj, const char *name, int64_t v);
/* A compound dataset of nrows rows, one field per column in order (a tidy table). */
int ml_results_table(ml_results_t *r, const char *path, int ncols, const ml_column_t *cols,
                     int64_t nrows);
/* A float32 dataset with the tensor's shape (any strides; written contiguous). */
int ml_results_tensor(ml_results_t *r, const char *path, const ml_tensor_t *t);
/* Flush, close and rename into place; frees r whatever the outcome. */
int ml_results_commit(ml_results_t *r);
/* Close and delete the temporary file; frees r. */
void ml_results_abort(ml_results_t *r);

/* Version string of the HDF5 library in use ("1.10.8"). */
const char *ml_results_hdf5_version(void);

#endif
