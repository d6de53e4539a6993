/* Reading result files back (schema: docs/results.md): what `moonlab show` and `moonlab plot`
 * need from a run or study file, and nothing more. Files come from anywhere, so every object
 * is checked before HDF5 is trusted with it: only hard links are followed, only the standard
 * integer, IEEE float and string types are read, datasets stored in external files or mapped
 * from other files are refused, and nothing larger than the reader's size limit is allocated.
 * HDF5 never prints its error stack and never aborts: every failure is one message that starts
 * with the file's name and names the object ("runs.h5: /study/summary: column 'x' has an
 * unsupported type (enum)").
 *
 * Paths are absolute inside the file ("/runs/normal/history"; "/" is the root group). Not
 * thread-safe: the serial HDF5 library must be used from one thread at a time. */
#ifndef MOONLAB_RFILE_H
#define MOONLAB_RFILE_H

#include <stddef.h>
#include <stdint.h>

#include "moonlab/results.h" /* ml_col_type_t: int64, float64 and string values */
#include "moonlab/tensor.h"

typedef struct ml_rfile ml_rfile_t;

typedef enum {
    ML_RKIND_NONE = 0, /* nothing at that path */
    ML_RKIND_GROUP,
    ML_RKIND_DATASET,
    ML_RKIND_OTHER     /* a named datatype */
} ml_rkind_t;

/* One value of an attribute: type says which of i, d, s holds it (s is owned). */
typedef struct ml_rvalue {
    ml_col_type_t type;
    int64_t i;
    double d;
    char *s;
} ml_rvalue_t;

typedef struct ml_rattr {
    char *name;
    ml_rvalue_t v;
} ml_rattr_t;

/* One column of a table: data is int64_t[nrows], double[nrows] or char *[nrows] (each string
 * NUL-terminated and owned; a string with a NUL inside ends there). */
typedef struct ml_rcolumn {
    char *name;
    ml_col_type_t type;
    void *data;
} ml_rcolumn_t;

typedef struct ml_rtable {
    int ncols;
    int64_t nrows;
    ml_rcolumn_t *cols;
} ml_rtable_t;

/* Largest allocation one read may make, by default (tables, tensors, name lists). */
#define ML_RFILE_DEFAULT_LIMIT ((size_t)1 << 30)

/* Open an HDF5 file read-only. A missing file, a directory, a file without the HDF5 signature
 * or one HDF5 cannot open is ML_EIO or ML_EFORMAT with a message naming path; *out is then
 * NULL. The file stays open until ml_rfile_close: string attributes are checked against its
 * bytes before HDF5 reads them (an image is kept as a copy for the same reason). */
int ml_rfile_open(ml_rfile_t **out, const char *path);
/* The same from an in-memory file image of size bytes (copied; the caller keeps image); name
 * is what messages call the file, and nothing on disk is looked at, even when a file has that
 * name. */
int ml_rfile_open_image(ml_rfile_t **out, const void *image, size_t size, const char *name);
/* Close the file and free f; a no-op on NULL. */
void ml_rfile_close(ml_rfile_t *f);
/* The name messages use for the file. */
const char *ml_rfile_name(const ml_rfile_t *f);
/* Set the largest allocation a read may make (bytes, >= 1); a larger table, tensor or list is
 * ML_EFORMAT. */
void ml_rfile_set_limit(ml_rfile_t *f, size_t bytes);

/* What is at path: ML_RKIND_NONE when nothing is; a soft or external link on the way is
 * ML_EFORMAT (moonlab writes none, and following them would read other files). */
int ml_rfile_kind(ml_rfile_t *f, const char *path, ml_rkind_t *kind);

/* The names of a group's members in byte order: *names holds *n NUL-terminated strings, freed
 * with ml_rfile_free_names. A path that is not a group is ML_EARG. */
int ml_rfile_list(ml_rfile_t *f, const char *group, char ***names, int64_t *n);
void ml_rfile_free_names(char **names, int64_t n);

/* Every attribute of a group or dataset, in byte order of their names: scalar (or one-element)
 * attributes of integer type (as int64), IEEE float type (as float64) or string type (fixed or
 * variable length). Any other attribute is ML_EFORMAT naming it, and so is a variable-length
 * string whose stored value would make HDF5 1.10 misbehave (a missing or mis-sized global heap
 * object, characters of more than one byte) or that is not kept in the object's header (dense
 * or shared attribute storage, which moonlab does not write). Free with ml_rfile_free_attrs
 * (also after a failure, where *attrs is NULL and *n 0). */
int ml_rfile_attrs(ml_rfile_t *f, const char *obj, ml_rattr_t **attrs, int *n);
void ml_rfile_free_attrs(ml_rattr_t *attrs, int n);

/* A one-dimensional compound dataset as columns, in the order of its fields: integer fields as
 * int64, IEEE float fields as float64, string fields (fixed or variable length) as strings. A
 * field of any other type, a dataset of another rank or type, or one stored outside the file
 * is ML_EFORMAT naming the dataset and field. On failure *t is zeroed. Free with
 * ml_rfile_free_table (a no-op on a zeroed table). */
int ml_rfile_table(ml_rfile_t *f, const char *path, ml_rtable_t *t);
void ml_rfile_free_table(ml_rtable_t *t);

/* A numeric (integer or IEEE float) dataset of 0 to ML_MAX_DIMS dimensions as a new float32
 * tensor with its shape (values converted as HDF5 converts them). On failure *t is zeroed. */
int ml_rfile_tensor(ml_rfile_t *f, const char *path, ml_tensor_t *t);

#endif
