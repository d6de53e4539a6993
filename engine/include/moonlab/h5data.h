/* Data sets as HDF5 files: read the numeric datasets of any HDF5 file as float32 tensors, and
 * save a data set (x, y, weights and scalar attributes) as an HDF5 file that reloads fast.
 *
 * Reading. Three datasets are looked up by path in the file: x (required), y and weights. A
 * name given as NULL means the default ("x", "y", "weights"): y and weights are then read when
 * the file has them and left zeroed when it does not. A name given explicitly must exist; ""
 * means "do not read". Accepted element types are IEEE float32 and float64 and integers of 1,
 * 2, 4 or 8 bytes (signed or not, either byte order); everything is converted to float32
 * (integers beyond 2^24 round; a float64 value outside the float32 range is an error). x and y
 * have 1 to 4 dimensions, weights 1; all three have the same number of rows (first size).
 * Every value must be finite, but for missing values: NaN in x and y is kept when the file
 * declares missing values (a root attribute `missing`, a number > 0, as ml_h5data_write
 * records it) or spec->missing says so (see ml_h5_missing_t). Scalar string and number attributes of the root group come back
 * too (how the file describes itself): those ml_h5data_write makes and those named in the
 * root's "attributes" attribute (names separated by newlines). They are opened by name only,
 * never iterated: iterating makes libhdf5 1.10.8 crash on some damaged files.
 *
 * ml_h5data_read opens a file; ml_h5data_parse opens an in-memory file image through HDF5's
 * core driver (the fuzz target feeds it bytes). `name` only labels messages. On failure the
 * result is left empty (nothing to free) and the call returns
 *   ML_EIO      the file cannot be opened or read (missing, a directory, permissions),
 *   ML_EFORMAT  not an HDF5 file, a damaged one, a missing dataset, a wrong rank, element type
 *               or row count, a dataset larger than spec->max_bytes,
 *   ML_ENAN     an infinite value, or a NaN that is not allowed (the message gives its row),
 *   ML_ENOMEM   an allocation failed,
 * with a message that starts with the file's name and names the dataset:
 *   `train.h5: dataset 'y' has 59999 rows, 'x' has 60000`.
 * HDF5's own error printing is turned off; the library's innermost message is quoted.
 *
 * Writing (ml_h5data_write) creates ".<name>.tmp-<pid>" beside the final path, writes, syncs
 * and renames it into place, so a failure never leaves a partial file at the path (an older
 * file there stays until the rename). Layout, read back by ml_h5data_read and by h5py:
 *   /x        (N, ...) the features, /y (N, ...) if given, /weights (N) if given; contiguous,
 *             uncompressed; float32 unless another storage type is asked for
 *   attributes of /: moonlab_dataset = 1 (format version, int64), rows = N (int64),
 *             created_by = "moonlab <version>", missing = the number of NaN values in x and
 *             y (int64, only when there are any), the caller's attributes, and (when there
 *             are any) attributes = their names separated by newlines.
 * Not thread-safe (the serial HDF5 library). */
#ifndef MOONLAB_H5DATA_H
#define MOONLAB_H5DATA_H

#include <stddef.h>
#include <stdint.h>

#include "moonlab/tensor.h"

/* A scalar attribute: a string (text != NULL) or a number. */
typedef struct ml_h5data_attr {
    const char *name;
    const char *text;
    double number;
} ml_h5data_attr_t;

typedef struct ml_h5data {
    ml_tensor_t x, y, weights;  /* owning; y and weights zeroed when not read */
    int nattrs;
    ml_h5data_attr_t *attrs;    /* the root's scalar attributes (at most 256), owned */
} ml_h5data_t;

/* NaN (a missing value) in x and y when reading. Weights never hold NaN. */
typedef enum {
    ML_H5_MISSING_AUTO = 0, /* kept when the file declares missing values, else an error */
    ML_H5_MISSING_ERROR,    /* always an error */
    ML_H5_MISSING_NAN,      /* always kept */
} ml_h5_missing_t;

typedef struct ml_h5data_spec {
    const char *x, *y, *weights;  /* dataset paths in the file (see above) */
    size_t max_bytes;             /* refuse a dataset of more float32 bytes; 0 = no limit */
    ml_h5_missing_t missing;      /* NaN in x and y (default: as the file declares) */
} ml_h5data_spec_t;

/* spec may be NULL (the defaults). Free the result with ml_h5data_free. */
int ml_h5data_read(ml_h5data_t *d, const char *path, const ml_h5data_spec_t *spec);
int ml_h5data_parse(ml_h5data_t *d, const void *buf, size_t n, const char *name,
                    const ml_h5data_spec_t *spec);
void ml_h5data_free(ml_h5data_t *d);

/* Storage types for saving. Integer types require every value to be a whole number in range. */
typedef enum {
    ML_H5_FLOAT32 = 0,
    ML_H5_FLOAT64,
    ML_H5_UINT8,
    ML_H5_INT32,
} ml_h5_type_t;

typedef struct ml_h5data_save {
    const ml_tensor_t *x;          /* (N, ...) 1 to 4 dimensions, any strides */
    const ml_tensor_t *y;          /* (N, ...) or NULL */
    const ml_tensor_t *weights;    /* (N) or NULL */
    const int64_t *rows;           /* save only these rows (0-based, in this order), or NULL */
    int64_t nrows;                 /* entries of rows */
    ml_h5_type_t x_type, y_type;   /* weights are always float32 */
    int nattrs;
    const ml_h5data_attr_t *attrs; /* extra attributes of / (names must differ from ours) */
} ml_h5data_save_t;

/* Writes the data set to path atomically (see above). Values must be finite (ML_ENAN names
 * the tensor and row), except NaN in x and y stored as float32 or float64: missing values,
 * kept and counted in the attribute `missing`. ML_EARG for bad shapes, rows out of range or
 * values that do not fit an integer storage type (NaN included); ML_EIO when the file cannot
 * be written. */
int ml_h5data_write(const char *path, const ml_h5data_save_t *s);

#endif
