
#include "moonlab/results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "moonlab/error.h"
#include "moonlab/rfile.h"

#include "h5util.h"

/* The file is built in memory (HDF5's core driver, no backing store) and its bytes are written
 * to the temporary file by write_image at commit. So HDF5 itself never writes to disk: a full
 * disk or a read-only file system is one errno from our own write, never a failure inside
 * libhdf5, whose error paths are not all safe (libhdf5 1.10 crashes in H5Ocopy when a write
 * fails with ENOSPC). */
struct ml_results {
    hid_t file;
    hid_t lcpl;   /* link creation: missing parent groups are created, names are UTF-8 */
    hid_t acpl;   /* attribute creation: names are UTF-8 */
    int fd;       /* the temporary file, open for writing from create to commit */
    char *path;   /* final path, the one every message names */
    char *tmp;    /* where the file is written until commit */
    char *dir;    /* directory of both, synced after the rename */
};

/* Growth step of the in-memory file. */
#define CORE_INCREMENT ((size_t)1 << 20)

/* Whether a failed write's errno says the storage refused it (full, over quota, read-only, no
 * permission): the caller can do nothing but free space or fix the directory, then retry. */
static int storage_errno(int e)
{
    return e == ENOSPC || e == EDQUOT || e == EROFS || e == EACCES;
}

/* "results: cannot write '<path>': <strerror>" as ML_ESTORAGE or ML_EIO by errno e. */
static int errno_fail(int e, const char *path, const char *step)
{
    return ml__fail(storage_errno(e) ? ML_ESTORAGE : ML_EIO, "results: cannot write '%s'%s%s: %s",
                    path, step ? ": " : "", step ? step : "", strerror(e));
}

/* Must run right after the failing call (ml__h5_why): "<what>: <HDF5's innermost error>". */
static int hdf5_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static int hdf5_fail(const char *fmt, ...)
{
    char why[256] = "unknown HDF5 error";
    ml__h5_why(why, sizeof why, 1);

    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ml__fail(ML_EIO, "%s: %s", what, why);
}

static void free_results(ml_results_t *r)
{
    if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    free(r->tmp);
    free(r->dir);
    free(r);
}

/* Closes the file (strong close degree: every object still open in it goes too) and the
 * property lists; returns the H5Fclose status. */
static herr_t close_handles(ml_results_t *r)
{
    ml__h5_close(&r->lcpl, H5Pclose);
    ml__h5_close(&r->acpl, H5Pclose);
    herr_t st = 0;
    if (r->file >= 0)
        st = H5Fclose(r->file);
    r->file = H5I_INVALID_HID;
    return st;
}

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int check_dir(const char *path, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return ml__fail(ML_EIO, "results: cannot write '%s': directory '%s' does not exist",
                            path, dir);
        return ml__fail(ML_EIO, "results: cannot write '%s': directory '%s': %s", path, dir,
                        strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return ml__fail(ML_EIO, "results: cannot write '%s': '%s' is not a directory", path,
                        dir);
    if (access(dir, W_OK | X_OK) != 0) {
        int e = errno;
        return ml__fail(storage_errno(e) ? ML_ESTORAGE : ML_EIO,
                        "results: cannot write '%s': directory '%s' is not writable: %s", path,
                        dir, strerror(e));
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return ml__fail(ML_EIO, "results: cannot write '%s': it is a directory", path);
    return ML_OK;
}

int ml_results_create(ml_results_t **out, const char *path)
{
    if (!out)
        return ml__fail(ML_EARG, "results: create: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return ml__fail(ML_EARG, "results: create: empty file name");
    ml__h5_quiet();

    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!base[0])
        return ml__fail(ML_EARG, "results: cannot write '%s': not a file name", path);
    size_t dirlen = (size_t)(base - path); /* including the trailing slash */

    ml_results_t *r = calloc(1, sizeof *r);
    if (!r)
        return ml__fail(ML_ENOMEM, "results: out of memory creating '%s'", path);
    r->file = r->lcpl = r->acpl = H5I_INVALID_HID;
    r->fd = -1;
    r->path = dup_range(path, strlen(path));
    if (!slash)
        r->dir = dup_range(".", 1);
    else
        r->dir = dup_range(path, dirlen > 1 ? dirlen - 1 : 1); /* "/x.h5" lives in "/" */
    r->tmp = ml__tmp_path(path);
    if (!r->path || !r->dir || !r->tmp) {
        free_results(r);
        return ml__fail(ML_ENOMEM, "results: out of memory creating '%s'", path);
    }

    int rc = check_dir(path, r->dir);
    if (rc) {
        free_results(r);
        return rc;
    }

    /* Strong close: closing the file closes everything still open in it. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_fapl_core(fapl, CORE_INCREMENT, 0) < 0) {
        rc = hdf5_fail("results: cannot create '%s'", path);
        ml__h5_close(&fapl, H5Pclose);
        free_results(r);
        return rc;
    }
    /* The in-memory file is named after the temporary file, so HDF5 refuses a second writer
     * for the same path in this process ("already open") before the disk is touched: its
     * O_TRUNC below would empty the first writer's temporary file. */
    r->file = H5Fcreate(r->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (r->file < 0) {
        rc = hdf5_fail("results: cannot create '%s' (temporary file '%s')", path, r->tmp);
        H5Pclose(fapl);
        free_results(r);
        return rc;
    }
    H5Pclose(fapl);
    /* TRUNC, not EXCL: a leftover with our pid can only be from a dead process that had the
     * same pid. Created now, so an unwritable directory is reported before anything is
     * computed for the file. */
    r->fd = open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (r->fd < 0) {
        rc = errno_fail(errno, path, "creating the temporary file");
        close_handles(r);
        free_results(r);
        return rc;
    }

    r->lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (r->lcpl < 0 || H5Pset_create_intermediate_group(r->lcpl, 1) < 0 ||
        H5Pset_char_encoding(r->lcpl, H5T_CSET_UTF8) < 0)
        goto fail;
    r->acpl = H5Pcreate(H5P_ATTRIBUTE_CREATE);
    if (r->acpl < 0 || H5Pset_char_encoding(r->acpl, H5T_CSET_UTF8) < 0)
        goto fail;
    *out = r;
    return ML_OK;

fail:
    rc = hdf5_fail("results: cannot create '%s'", path);
    close_handles(r);
    unlink(r->tmp);
    free_results(r);
    return rc;
}

static int check_obj_path(const ml_results_t *r, const char *path, const char *what)
{
    if (!r)
        return ml__fail(ML_EARG, "results: %s on a NULL result file", what);
    if (!path || !path[0])
        return ml__fail(ML_EARG, "results: %s: empty object path in '%s'", what, r->path);
    return ML_OK;
}

/* *exists = whether an object is at `path`. Walks the path one group at a time because
 * H5Lexists fails (rather than answering 0) when a parent group is missing, and because a
 * parent that is a dataset makes HDF5 say only "message type not found". */
static int obj_exists(const ml_results_t *r, const char *path, int *exists)
{
    *exists = 1;
    char *p = dup_range(path, strlen(path));
    if (!p)
        return ml__fail(ML_ENOMEM, "results: out of memory looking up '%s'", path);
    int rc = ML_OK;
    size_t n = strlen(p);
    for (size_t i = 0; i < n && *exists && rc == ML_OK; i++) {
        if (p[i] == '/')
            continue;
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        char saved = p[j];
        p[j] = '\0';
        htri_t e = H5Lexists(r->file, p, H5P_DEFAULT);
        if (e < 0) {
            rc = hdf5_fail("results: cannot look up '%s' in '%s'", p, r->path);
        } else if (e > 0 && strspn(path + j, "/") < n - j) {
            hid_t o = H5Oopen(r->file, p, H5P_DEFAULT);
            if (o < 0)
                rc = hdf5_fail("results: cannot open '%s' in '%s'", p, r->path);
            else if (H5Iget_type(o) != H5I_GROUP)
                rc = ml__fail(ML_EARG, "results: cannot use '%s' in '%s': '%s' is not a group",
                              path, r->path, p);
            if (o >= 0)
                H5Oclose(o);
        }
        *exists = e > 0;
        p[j] = saved;
        i = j;
    }
    free(p);
    return rc;
}

/* Makes sure a group is at `path`, creating it and its parents if needed. */
static int ensure_group(ml_results_t *r, const char *path)
{
    int exists;
    int rc = obj_exists(r, path, &exists);
    if (rc)
        return rc;
    if (exists) {
        hid_t o = H5Oopen(r->file, path, H5P_DEFAULT);
        if (o < 0)
            return hdf5_fail("results: cannot open '%s' in '%s'", path, r->path);
        H5I_type_t kind = H5Iget_type(o);
        H5Oclose(o);
        if (kind != H5I_GROUP)
            return ml__fail(ML_EARG, "results: '%s' in '%s' exists and is not a group", path,
                            r->path);
        return ML_OK;
    }
    hid_t g = H5Gcreate2(r->file, path, r->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return hdf5_fail("results: cannot create group '%s' in '%s'", path, r->path);
    H5Gclose(g);
    return ML_OK;
}

int ml_results_group(ml_results_t *r, const char *path)
{
    int rc = check_obj_path(r, path, "group");
    if (rc)
        return rc;
    ml__h5_quiet();
    return ensure_group(r, path);
}

/* One scalar attribute, replacing any of the same name (whatever its old type). */
static int write_attr(ml_results_t *r, const char *obj, const char *name, hid_t ftype,
                      hid_t mtype, const void *value)
{
    int rc = check_obj_path(r, obj, "attribute");
    if (rc)
        return rc;
    if (!name || !name[0])
        return ml__fail(ML_EARG, "results: attribute on '%s' in '%s': empty name", obj,
                        r->path);
    ml__h5_quiet();

    int exists;
    rc = obj_exists(r, obj, &exists);
    if (rc)
        return rc;
    if (!exists && (rc = ensure_group(r, obj)) != ML_OK)
        return rc;

    hid_t space = H5I_INVALID_HID, a = H5I_INVALID_HID;
    hid_t o = H5Oopen(r->file, obj, H5P_DEFAULT);
    htri_t had;
    if (o < 0) {
        rc = hdf5_fail("results: cannot open '%s' in '%s'", obj, r->path);
        goto done;
    }
    had = H5Aexists(o, name);
    if (had < 0 || (had > 0 && H5Adelete(o, name) < 0)) {
        rc = hdf5_fail("results: cannot replace attribute '%s' of '%s' in '%s'", name, obj,
                       r->path);
        goto done;
    }
    space = H5Screate(H5S_SCALAR);
    if (space >= 0)
        a = H5Acreate2(o, name, ftype, space, r->acpl, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, value) < 0) {
        rc = hdf5_fail("results: cannot write attribute '%s' of '%s' in '%s'", name, obj,
                       r->path);
        goto done;
    }
done:
    ml__h5_close(&a, H5Aclose);
    ml__h5_close(&space, H5Sclose);
    ml__h5_close(&o, H5Oclose);
    return rc;
}

/* Variable-length UTF-8: the string type h5py (>= 3) reads back as a Python str, for
 * attributes and for table fields alike. Fixed-length strings come back as bytes. */
static hid_t utf8_string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return t;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

int ml_results_attr_string(ml_results_t *r, const char *obj, const char *name, const char *v)
{
    if (!v)
        return ml__fail(ML_EARG, "results: attribute '%s' of '%s': value is NULL",
                        name ? name : "", obj ? obj : "");
    ml__h5_quiet();
    hid_t t = utf8_string_type();
    if (t < 0)
        return hdf5_fail("results: cannot make a string type");
    int rc = write_attr(r, obj, name, t, t, &v);
    H5Tclose(t);
    return rc;
}

int ml_results_attr_double(ml_results_t *r, const char *obj, const char *name, double v)
{
    return write_attr(r, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int ml_results_attr_int64(ml_results_t *r, const char *obj, const char *name, int64_t v)
{
    return write_attr(r, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

/* A new dataset at `path`; refuses to overwrite so that two results never share a name
 * silently. */
static int create_dataset(ml_results_t *r, const char *path, hid_t ftype, hid_t space,
                          hid_t *dset)
{
    *dset = H5I_INVALID_HID;
    int exists;
    int rc = obj_exists(r, path, &exists);
    if (rc)
        return rc;
    if (exists)
        return ml__fail(ML_EARG, "results: '%s' already exists in '%s'", path, r->path);
    *dset = H5Dcreate2(r->file, path, ftype, space, r->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (*dset < 0)
        return hdf5_fail("results: cannot create dataset '%s' in '%s'", path, r->path);
    return ML_OK;
}

static size_t col_size(ml_col_type_t type)
{
    switch (type) {
    case ML_COL_INT64: return sizeof(int64_t);
    case ML_COL_FLOAT64: return sizeof(double);
    case ML_COL_STRING: return sizeof(const char *);
    }
    return 0;
}

static hid_t col_mem_type(ml_col_type_t type, hid_t str)
{
    return type == ML_COL_INT64 ? H5T_NATIVE_INT64 : type == ML_COL_FLOAT64 ? H5T_NATIVE_DOUBLE
                                                                              : str;
}

static hid_t col_file_type(ml_col_type_t type, hid_t str)
{
    return type == ML_COL_INT64 ? H5T_STD_I64LE : type == ML_COL_FLOAT64 ? H5T_IEEE_F64LE : str;
}

static int check_columns(const ml_results_t *r, const char *path, int ncols,
                         const ml_column_t *cols, int64_t nrows)
{
    if (ncols < 1 || !cols)
        return ml__fail(ML_EARG, "results: table '%s' in '%s': %d columns (at least 1)", path,
                        r->path, ncols);
    if (nrows < 0)
        return ml__fail(ML_EARG, "results: table '%s' in '%s': %lld rows", path, r->path,
                        (long long)nrows);
    for (int c = 0; c < ncols; c++) {
        const ml_column_t *col = &cols[c];
        if (!col->name || !col->name[0])
            return ml__fail(ML_EARG, "results: table '%s' in '%s': column %d has no name", path,
                            r->path, c + 1);
        if (col_size(col->type) == 0)
            return ml__fail(ML_EARG, "results: table '%s' in '%s': column '%s' has type %d",
                            path, r->path, col->name, (int)col->type);
        if (nrows > 0 && !col->data)
            return ml__fail(ML_EARG, "results: table '%s' in '%s': column '%s' has no data",
                            path, r->path, col->name);
        for (int d = 0; d < c; d++)
            if (strcmp(cols[d].name, col->name) == 0)
                return ml__fail(ML_EARG, "results: table '%s' in '%s': columns %d and %d are "
                                "both named '%s'", path, r->path, d + 1, c + 1, col->name);
        if (col->type != ML_COL_STRING)
            continue;
        /* HDF5 would store a NULL as an empty string; a missing value is a caller bug. */
        const char *const *s = col->data;
        for (int64_t i = 0; i < nrows; i++)
            if (!s[i])
                return ml__fail(ML_EARG, "results: table '%s' in '%s': column '%s' row %lld "
                                "is NULL", path, r->path, col->name, (long long)i + 1);
    }
    return ML_OK;
}

int ml_results_table(ml_results_t *r, const char *path, int ncols, const ml_column_t *cols,
                     int64_t nrows)
{
    int rc = check_obj_path(r, path, "table");
    if (!rc)
        rc = check_columns(r, path, ncols, cols, nrows);
    if (rc)
        return rc;
    ml__h5_quiet();

    hid_t str = H5I_INVALID_HID, mtype = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    size_t *off = NULL, row = 0, align = 1, fsize = 0, foff = 0;
    unsigned char *rows = NULL;
    hsize_t dims[1] = {(hsize_t)nrows};

    str = utf8_string_type();
    if (str < 0)
        goto hdf5_error;
    /* Row layout in memory: each field aligned to its own size (all 8 on LP64). The file type
     * is packed and names little-endian standard types, so the file reads the same on any
     * machine; HDF5 converts between the two. */
    off = malloc((size_t)ncols * sizeof *off);
    if (!off) {
        rc = ml__fail(ML_ENOMEM, "results: out of memory writing table '%s'", path);
        goto done;
    }
    for (int c = 0; c < ncols; c++) {
        size_t sz = col_size(cols[c].type);
        row = (row + sz - 1) / sz * sz;
        off[c] = row;
        row += sz;
        align = sz > align ? sz : align;
        fsize += H5Tget_size(col_file_type(cols[c].type, str));
    }
    row = (row + align - 1) / align * align;

    mtype = H5Tcreate(H5T_COMPOUND, row);
    ftype = H5Tcreate(H5T_COMPOUND, fsize);
    if (mtype < 0 || ftype < 0)
        goto hdf5_error;
    for (int c = 0; c < ncols; c++) {
        hid_t ft = col_file_type(cols[c].type, str);
        if (H5Tinsert(mtype, cols[c].name, off[c], col_mem_type(cols[c].type, str)) < 0 ||
            H5Tinsert(ftype, cols[c].name, foff, ft) < 0)
            goto hdf5_error;
        foff += H5Tget_size(ft);
    }

    space = H5Screate_simple(1, dims, NULL);
    if (space < 0)
        goto hdf5_error;
    rc = create_dataset(r, path, ftype, space, &dset);
    if (rc || nrows == 0 || row == 0) /* row > 0 whenever there is a column */
        goto done;

    if ((uint64_t)nrows > SIZE_MAX / row) {
        rc = ml__fail(ML_ENOMEM, "results: table '%s' (%lld rows) is too large", path,
                      (long long)nrows);
        goto done;
    }
    rows = malloc((size_t)nrows * row);
    if (!rows) {
        rc = ml__fail(ML_ENOMEM, "results: out of memory writing table '%s' (%lld rows)", path,
                      (long long)nrows);
        goto done;
    }
    for (int c = 0; c < ncols; c++) {
        size_t sz = col_size(cols[c].type);
        const unsigned char *src = cols[c].data;
        for (int64_t i = 0; i < nrows; i++)
            memcpy(rows + (size_t)i * row + off[c], src + (size_t)i * sz, sz);
    }
    if (H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0)
        rc = hdf5_fail("results: cannot write table '%s' in '%s'", path, r->path);
    goto done;

hdf5_error:
    rc = hdf5_fail("results: cannot make the row type of table '%s' in '%s'", path, r->path);
done:
    free(rows);
    free(off);
    ml__h5_close(&dset, H5Dclose);
    ml__h5_close(&space, H5Sclose);
    ml__h5_close(&ftype, H5Tclose);
    ml__h5_close(&mtype, H5Tclose);
    ml__h5_close(&str, H5Tclose);
    return rc;
}

int ml_results_tensor(ml_results_t *r, const char *path, const ml_tensor_t *t)
{
    int rc = check_obj_path(r, path, "tensor");
    if (rc)
        return rc;
    if (!t || t->ndim < 0 || t->ndim > ML_MAX_DIMS)
        return ml__fail(ML_EARG, "results: tensor '%s' in '%s': %s", path, r->path,
                        t ? "bad number of dimensions" : "tensor is NULL");
    hsize_t dims[ML_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0)
            return ml__fail(ML_EARG, "results: tensor '%s' in '%s': size %lld of dimension %d "
                            "is negative", path, r->path, (long long)t->shape[i], i + 1);
        dims[i] = (hsize_t)t->shape[i];
    }
    int64_t n = ml_tensor_numel(t);
    if (n > 0 && !t->data)
        return ml__fail(ML_EARG, "results: tensor '%s' in '%s' has no data", path, r->path);
    ml__h5_quiet();

    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    ml_tensor_t packed = {0};
    const float *src = t->data;
    space = t->ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(t->ndim, dims, NULL);
    if (space < 0) {
        rc = hdf5_fail("results: cannot make the shape of tensor '%s' in '%s'", path, r->path);
        goto done;
    }
    rc = create_dataset(r, path, H5T_IEEE_F32LE, space, &dset);
    if (rc || n == 0)
        goto done;

    if (!ml_tensor_is_contiguous(t)) {
        /* HDF5 wants row-major memory; a view (transpose, strided slice) is packed first. */
        if ((rc = ml_tensor_new(&packed, t->ndim, t->shape)) != ML_OK ||
            (rc = ml_tensor_copy(&packed, t)) != ML_OK)
            goto done;
        src = packed.data;
    }
    if (H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, src) < 0)
        rc = hdf5_fail("results: cannot write tensor '%s' in '%s'", path, r->path);
done:
    ml_tensor_free(&packed);
    ml__h5_close(&dset, H5Dclose);
    ml__h5_close(&space, H5Sclose);
    return rc;
}

int ml_results_int64(ml_results_t *r, const char *path, const int64_t *v, int64_t n)
{
    int rc = check_obj_path(r, path, "int64");
    if (rc)
        return rc;
    if (n < 0 || (n > 0 && !v))
        return ml__fail(ML_EARG, "results: int64 '%s' in '%s': %lld values%s", path, r->path,
                        (long long)n, n > 0 ? " from NULL" : "");
    ml__h5_quiet();
    hsize_t dims[1] = {(hsize_t)n};
    hid_t dset = H5I_INVALID_HID;
    hid_t space = H5Screate_simple(1, dims, NULL);
    if (space < 0)
        return hdf5_fail("results: cannot make the shape of int64 '%s' in '%s'", path, r->path);
    rc = create_dataset(r, path, H5T_STD_I64LE, space, &dset);
    if (rc == ML_OK && n > 0 &&
        H5Dwrite(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        rc = hdf5_fail("results: cannot write int64 '%s' in '%s'", path, r->path);
    ml__h5_close(&dset, H5Dclose);
    ml__h5_close(&space, H5Sclose);
    return rc;
}

int ml_results_copy(ml_results_t *r, const char *dst_path, const char *src_file,
                    const char *src_path)
{
    int rc = check_obj_path(r, dst_path, "copy");
    if (rc)
        return rc;
    if (!src_file || !src_path || !src_path[0])
        return ml__fail(ML_EARG, "results: copy into '%s': no source given", r->path);
    ml__h5_quiet();
    int exists;
    if ((rc = obj_exists(r, dst_path, &exists)) != ML_OK)
        return rc;
    if (exists)
        return ml__fail(ML_EARG, "results: '%s' already exists in '%s'", dst_path, r->path);
    /* The parent group of the destination. */
    char *parent = dup_range(dst_path, strlen(dst_path));
    if (!parent)
        return ml__fail(ML_ENOMEM, "results: out of memory copying into '%s'", r->path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        rc = ensure_group(r, parent);
    }
    free(parent);
    if (rc)
        return rc;
    /* Through the reader, so the source gets the same checks before libhdf5 sees it as any
     * file moonlab reads (its message starts with the file's name). */
    ml_rfile_t *in = NULL;
    if ((rc = ml_rfile_open(&in, src_file)) != ML_OK)
        return ml__fail(rc, "results: cannot copy '%s' into '%s': %s", src_path, r->path,
                        ml_errmsg());
    ml_rkind_t kind;
    if ((rc = ml_rfile_kind(in, src_path, &kind)) != ML_OK)
        rc = ml__fail(rc, "results: cannot copy '%s' into '%s': %s", src_path, r->path,
                      ml_errmsg());
    else if (kind == ML_RKIND_NONE)
        rc = ml__fail(ML_EFORMAT, "results: '%s' has no object '%s'", src_file, src_path);
    else if (H5Ocopy(ml__rfile_hid(in), src_path, r->file, dst_path, H5P_DEFAULT, r->lcpl) < 0)
        rc = hdf5_fail("results: cannot copy '%s' from '%s' to '%s' in '%s'", src_path, src_file,
                       dst_path, r->path);
    ml_rfile_close(in);
    return rc;
}

/* Writes the in-memory file's bytes to the temporary file. */
static int write_image(ml_results_t *r)
{
    if (H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0)
        return hdf5_fail("results: cannot write '%s'", r->path);
    ssize_t size = H5Fget_file_image(r->file, NULL, 0);
    if (size < 0)
        return hdf5_fail("results: cannot write '%s'", r->path);
    unsigned char *image = malloc(size > 0 ? (size_t)size : 1);
    if (!image)
        return ml__fail(ML_ENOMEM, "results: out of memory writing '%s' (%lld bytes)", r->path,
                        (long long)size);
    int rc = ML_OK;
    if (H5Fget_file_image(r->file, image, (size_t)size) != size) {
        rc = hdf5_fail("results: cannot write '%s'", r->path);
    } else {
        /* The memory HDF5 holds for the file goes before the bytes are written. */
        if (close_handles(r) < 0)
            rc = hdf5_fail("results: cannot write '%s'", r->path);
        for (ssize_t done = 0; rc == ML_OK && done < size;) {
            ssize_t n = write(r->fd, image + done, (size_t)(size - done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                rc = errno_fail(n < 0 ? errno : EIO, r->path, NULL);
            else
                done += n;
        }
    }
    free(image);
    return rc;
}

int ml_results_commit(ml_results_t *r)
{
    if (!r)
        return ml__fail(ML_EARG, "results: commit of a NULL result file");
    ml__h5_quiet();
    int rc = write_image(r);
    if (close_handles(r) < 0 && rc == ML_OK)
        rc = hdf5_fail("results: cannot write '%s'", r->path);
    if (rc == ML_OK && close(r->fd) != 0) /* NFS may report a full disk only here */
        rc = errno_fail(errno, r->path, NULL);
    r->fd = -1;
    const char *step;
    if (rc == ML_OK && ml__move_into_place(r->tmp, r->path, &step) != 0) {
        int e = errno;
        rc = ml__fail(storage_errno(e) ? ML_ESTORAGE : ML_EIO,
                      "results: cannot write '%s': %s '%s': %s", r->path, step, r->tmp,
                      strerror(e));
    }
    if (rc != ML_OK) {
        unlink(r->tmp);
    } else if (ml__sync_path(r->dir, 1) != 0) {
        /* The complete file is in place; only its survival of a power cut is in doubt, so it
         * stays, but the caller hears about it. */
        rc = ml__fail(ML_EIO, "results: '%s' was written but directory '%s' could not be "
                      "synced: %s", r->path, r->dir, strerror(errno));
    }
    free_results(r);
    return rc;
}

void ml_results_abort(ml_results_t *r)
{
    if (!r)
        return;
    ml__h5_quiet();
    close_handles(r);
    unlink(r->tmp);
    free_results(r);
}

const char *ml_results_hdf5_version(void)
{
    static char version[32];
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(version, sizeof version, "%u.%u.%u", maj, min, rel);
    return version;
}
