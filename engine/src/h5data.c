/* Data sets as HDF5 files (h5data.h): reading any file's numeric datasets, saving data sets.
 *
 * The reader trusts nothing in the file: every size is checked before it is used to allocate,
 * element types are matched against the few standard number types we convert, and HDF5's
 * answers are checked on every call. What it cannot check is libhdf5's own parsing of a
 * damaged file's internal structures (object headers, B-trees, heaps); that is the library's
 * job, and the fuzz target (tests/fuzz/fuzz_h5data.c) exercises it through this reader. */
#include "moonlab/h5data.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "moonlab/error.h"
#include "moonlab/version.h"

#include "h5util.h"

#define MAX_ATTRS 256
#define MAX_ATTR_TEXT 65536

/* ml__fail with HDF5's innermost message appended ("<what> (HDF5: <why>)", or "<what>" when
 * it has none); must run right after the failing call (ml__h5_why). */
static int h5_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int h5_fail(int code, const char *fmt, ...)
{
    char why[256] = "";
    ml__h5_why(why, sizeof why, 0);
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return why[0] ? ml__fail(code, "%s (HDF5: %s)", what, why) : ml__fail(code, "%s", what);
}

void ml_h5data_free(ml_h5data_t *d)
{
    if (!d)
        return;
    ml_tensor_free(&d->x);
    ml_tensor_free(&d->y);
    ml_tensor_free(&d->weights);
    for (int i = 0; i < d->nattrs; i++) {
        free((void *)d->attrs[i].name);
        free((void *)d->attrs[i].text);
    }
    free(d->attrs);
    memset(d, 0, sizeof *d);
}

/* ---- reading ---- */

typedef struct {
    hid_t file;
    const char *name;  /* the file, for messages */
    size_t max_bytes;
    uint64_t size;     /* bytes in the file (or image) */
} reader_t;

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

/* 1 if the path names an object: walks the path one link at a time, since H5Lexists fails
 * instead of answering no when a parent is missing or is not a group. */
static int object_exists(hid_t file, const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p)
        return 0;
    memcpy(p, path, n + 1);
    int exists = n > 0;
    for (size_t i = 0; i < n && exists; i++) {
        if (p[i] == '/')
            continue;
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        char saved = p[j];
        p[j] = '\0';
        exists = H5Lexists(file, p, H5P_DEFAULT) > 0;
        if (exists && j < n) {
            H5O_info_t info;
            exists = H5Oget_info_by_name2(file, p, &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
                     info.type == H5O_TYPE_GROUP;
        }
        p[j] = saved;
        i = j;
    }
    free(p);
    return exists;
}

/* The element type is one we convert: IEEE float32/float64 or a plain integer of 1, 2, 4 or
 * 8 bytes. *wide = 1 for float64 (read as double, range-checked). */
static int check_type(const reader_t *r, const char *dname, hid_t type, int *wide)
{
    H5T_class_t c = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    *wide = 0;
    if (c == H5T_FLOAT) {
        if (H5Tequal(type, H5T_IEEE_F32LE) > 0 || H5Tequal(type, H5T_IEEE_F32BE) > 0)
            return ML_OK;
        if (H5Tequal(type, H5T_IEEE_F64LE) > 0 || H5Tequal(type, H5T_IEEE_F64BE) > 0) {
            *wide = 1;
            return ML_OK;
        }
        return ml__fail(ML_EFORMAT,
                        "%s: dataset '%s' holds %zu-byte floats that are not IEEE float32 or "
                        "float64",
                        r->name, dname, size);
    }
    if (c == H5T_INTEGER) {
        H5T_order_t order = H5Tget_order(type);
        size_t prec = H5Tget_precision(type);
        int off = H5Tget_offset(type);
        if ((size == 1 || size == 2 || size == 4 || size == 8) && prec == 8 * size && off == 0 &&
            (order == H5T_ORDER_LE || order == H5T_ORDER_BE || size == 1))
            return ML_OK;
        return ml__fail(ML_EFORMAT,
                        "%s: dataset '%s' holds a non-standard %zu-byte integer type (%zu bits "
                        "at offset %d)",
                        r->name, dname, size, prec, off);
    }
    return ml__fail(ML_EFORMAT,
                    "%s: dataset '%s' holds %s values, not numbers (float32, float64 or "
                    "integers)",
                    r->name, dname, class_name(c));
}

/* Row (1-based) of flat element i of a tensor with `row` elements per row. */
static long long row_of(int64_t i, int64_t row)
{
    return row > 0 ? (long long)(i / row) + 1 : 1;
}

/* One dataset into *out (a new tensor) with 1..max_rank dimensions. With nan_row, a NaN is
 * kept and the row of the first one stored there (0: none); without, a NaN is an error like
 * an infinity. */
static int read_dataset(const reader_t *r, const char *dname, int max_rank, ml_tensor_t *out,
                        int64_t *nan_row)
{
    hid_t dset = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    double *wide_buf = NULL;
    void *raw = NULL; /* small integers as stored */
    int rc = ML_OK;
    H5O_info_t info;
    if (H5Oget_info_by_name2(r->file, dname, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        rc = h5_fail(ML_EFORMAT, "%s: cannot open '%s'", r->name, dname);
        goto done;
    }
    if (info.type != H5O_TYPE_DATASET) {
        rc = ml__fail(ML_EFORMAT, "%s: '%s' is a %s, not a dataset", r->name, dname,
                      info.type == H5O_TYPE_GROUP ? "group" : "named type");
        goto done;
    }
    dset = H5Dopen2(r->file, dname, H5P_DEFAULT);
    if (dset < 0) {
        rc = h5_fail(ML_EFORMAT, "%s: cannot open dataset '%s'", r->name, dname);
        goto done;
    }
    type = H5Dget_type(dset);
    space = H5Dget_space(dset);
    if (type < 0 || space < 0) {
        rc = h5_fail(ML_EFORMAT, "%s: cannot read the type and shape of dataset '%s'", r->name,
                     dname);
        goto done;
    }
    int wide;
    if ((rc = check_type(r, dname, type, &wide)) != ML_OK)
        goto done;
    H5S_class_t sclass = H5Sget_simple_extent_type(space);
    int rank = H5Sget_simple_extent_ndims(space);
    if (sclass != H5S_SIMPLE || rank < 1 || rank > max_rank) {
        if (sclass == H5S_SCALAR)
            rc = ml__fail(ML_EFORMAT, "%s: dataset '%s' is a scalar, expected 1 to %d dimensions",
                          r->name, dname, max_rank);
        else if (sclass == H5S_NULL)
            rc = ml__fail(ML_EFORMAT, "%s: dataset '%s' is empty (null dataspace)", r->name,
                          dname);
        else
            rc = ml__fail(ML_EFORMAT, "%s: dataset '%s' has %d dimensions, expected 1 to %d",
                          r->name, dname, rank, max_rank);
        goto done;
    }
    hsize_t dims[H5S_MAX_RANK];
    if (H5Sget_simple_extent_dims(space, dims, NULL) != rank) {
        rc = h5_fail(ML_EFORMAT, "%s: cannot read the shape of dataset '%s'", r->name, dname);
        goto done;
    }
    int64_t shape[ML_MAX_DIMS];
    uint64_t total = 1;
    int huge = 0;
    for (int i = 0; i < rank; i++) {
        if (dims[i] > ((hsize_t)1 << 62) ||
            (dims[i] != 0 && total > (UINT64_C(1) << 62) / dims[i]))
            huge = 1;
        else
            total *= dims[i];
        shape[i] = huge ? 0 : (int64_t)dims[i];
    }
    if (huge || (r->max_bytes && total > r->max_bytes / sizeof(float))) {
        char s[128];
        size_t used = 0;
        s[0] = '\0';
        for (int i = 0; i < rank && used < sizeof s; i++) {
            int w = snprintf(s + used, sizeof s - used, "%s%llu", i ? "x" : "",
                             (unsigned long long)dims[i]);
            used += w > 0 ? (size_t)w : 0;
        }
        rc = ml__fail(ML_EFORMAT, "%s: dataset '%s' is %s, %s", r->name, dname, s,
                      huge ? "too large to hold in memory" : "larger than the size limit");
        goto done;
    }
    if ((rc = ml_tensor_new(out, rank, shape)) != ML_OK) {
        rc = ml__fail(rc, "%s: dataset '%s': %s", r->name, dname, ml_errmsg());
        goto done;
    }
    if (total == 0)
        goto done;
    /* Compact and contiguous data must be as large as shape and type say, and contiguous data
     * must lie inside the file: libhdf5 1.10.8 copies from wherever a damaged layout message
     * points (tests/fuzz/README.md). Chunked data (possibly compressed) is not checked. */
    uint64_t bytes = total * (uint64_t)H5Tget_size(type);
    hid_t dcpl = H5Dget_create_plist(dset);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    ml__h5_close(&dcpl, H5Pclose);
    if (layout == H5D_LAYOUT_ERROR) {
        rc = h5_fail(ML_EFORMAT, "%s: cannot read the layout of dataset '%s'", r->name, dname);
        goto done;
    }
    hsize_t stored = layout == H5D_CHUNKED ? bytes : H5Dget_storage_size(dset);
    if (stored < bytes) {
        rc = ml__fail(ML_EFORMAT, "%s: dataset '%s' stores %llu bytes, its shape and type need "
                      "%llu (never written, or a damaged file)", r->name, dname,
                      (unsigned long long)stored, (unsigned long long)bytes);
        goto done;
    }
    haddr_t at = layout == H5D_CONTIGUOUS ? H5Dget_offset(dset) : HADDR_UNDEF;
    if (at != HADDR_UNDEF && (at > r->size || bytes > r->size - at)) {
        rc = ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: the %llu bytes of dataset '%s' at "
                      "0x%llx lie outside the file (%llu bytes)", r->name,
                      (unsigned long long)bytes, dname, (unsigned long long)at,
                      (unsigned long long)r->size);
        goto done;
    }
    if (wide) {
        wide_buf = malloc((size_t)total * sizeof *wide_buf);
        if (!wide_buf) {
            rc = ml__fail(ML_ENOMEM, "%s: dataset '%s': cannot allocate %llu doubles", r->name,
                          dname, (unsigned long long)total);
            goto done;
        }
    }
    /* Small integers are read as they are stored and widened here: HDF5's own conversion to
     * float takes about 5 times as long (0.35 s for Fashion-MNIST's 47 MB of pixels). */
    int small = 0;
    hid_t native = H5I_INVALID_HID;
    if (!wide && H5Tget_class(type) == H5T_INTEGER && H5Tget_size(type) <= 2) {
        int sign = H5Tget_sign(type) == H5T_SGN_2;
        small = (int)H5Tget_size(type) * (sign ? -1 : 1);
        native = small == 1 ? H5T_NATIVE_UINT8 : small == -1 ? H5T_NATIVE_INT8
               : small == 2 ? H5T_NATIVE_UINT16 : H5T_NATIVE_INT16;
        raw = malloc((size_t)total * 2);
        if (!raw) {
            rc = ml__fail(ML_ENOMEM, "%s: dataset '%s': cannot allocate %llu values", r->name,
                          dname, (unsigned long long)total);
            goto done;
        }
    }
    if (H5Dread(dset, small ? native : wide ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, H5S_ALL,
                H5S_ALL, H5P_DEFAULT, small ? raw : wide ? (void *)wide_buf : (void *)out->data) < 0) {
        rc = h5_fail(ML_EFORMAT, "%s: cannot read dataset '%s'", r->name, dname);
        goto done;
    }
    if (small) {
        float *o = out->data;
        if (small == 1) {
            const uint8_t *v = (const uint8_t *)raw;
            for (uint64_t i = 0; i < total; i++)
                o[i] = (float)v[i];
        } else if (small == -1) {
            const int8_t *v = (const int8_t *)raw;
            for (uint64_t i = 0; i < total; i++)
                o[i] = (float)v[i];
        } else if (small == 2) {
            const uint16_t *v = (const uint16_t *)raw;
            for (uint64_t i = 0; i < total; i++)
                o[i] = (float)v[i];
        } else {
            const int16_t *v = (const int16_t *)raw;
            for (uint64_t i = 0; i < total; i++)
                o[i] = (float)v[i];
        }
        goto done; /* small integers are finite */
    }
    int64_t per_row = rank > 1 ? (int64_t)(total / dims[0]) : 1;
    if (wide) {
        for (uint64_t i = 0; i < total; i++) {
            double v = wide_buf[i];
            if (isnan(v) && nan_row) {
                if (!*nan_row)
                    *nan_row = row_of((int64_t)i, per_row);
            } else if (!isfinite(v) || fabs(v) > (double)FLT_MAX) {
                rc = ml__fail(isfinite(v) ? ML_EFORMAT : ML_ENAN,
                              "%s: dataset '%s' row %lld holds %g, %s", r->name, dname,
                              row_of((int64_t)i, per_row), isnan(v) ? fabs(v) : v,
                              isfinite(v) ? "outside the float32 range"
                                          : "not a finite number");
                goto done;
            }
            out->data[i] = (float)v;
        }
    } else if (!ml_tensor_all_finite(out)) {
        for (uint64_t i = 0; i < total; i++)
            if (isnan(out->data[i]) && nan_row) {
                if (!*nan_row)
                    *nan_row = row_of((int64_t)i, per_row);
            } else if (!isfinite(out->data[i])) {
                rc = ml__fail(ML_ENAN, "%s: dataset '%s' row %lld holds %g, not a finite number",
                              r->name, dname, row_of((int64_t)i, per_row),
                              isnan(out->data[i]) ? fabs((double)out->data[i])
                                                  : (double)out->data[i]); /* never "-nan" */
                break;
            }
    }
done:
    free(wide_buf);
    free(raw);
    if (rc)
        ml_tensor_free(out);
    ml__h5_close(&space, H5Sclose);
    ml__h5_close(&type, H5Tclose);
    ml__h5_close(&dset, H5Dclose);
    return rc;
}

/* The root's attribute `aname`, when it is a scalar string or number, appended to d->attrs;
 * anything else is skipped. Attributes are opened by name only: iterating over them
 * (H5Aiterate, H5Aopen_by_idx) makes libhdf5 1.10 build and release a table of every
 * attribute, which crashes inside the library on some damaged files (tests/fuzz/README). */
static void read_attr(ml_h5data_t *d, hid_t loc, const char *aname)
{
    if (d->nattrs >= MAX_ATTRS || H5Aexists(loc, aname) <= 0)
        return;
    for (int i = 0; i < d->nattrs; i++)
        if (strcmp(d->attrs[i].name, aname) == 0)
            return;
    hid_t a = H5Aopen(loc, aname, H5P_DEFAULT);
    hid_t type = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    hid_t space = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    hid_t mem = H5I_INVALID_HID;
    struct {
        char *name, *text;
        double number;
    } at = {0};
    if (type < 0 || space < 0 || H5Sget_simple_extent_npoints(space) != 1)
        goto done;
    H5T_class_t c = H5Tget_class(type);
    if (c == H5T_INTEGER || c == H5T_FLOAT) {
        int wide;
        reader_t r = {.name = ""};
        if (check_type(&r, aname, type, &wide) != ML_OK ||
            H5Aread(a, H5T_NATIVE_DOUBLE, &at.number) < 0)
            goto done;
    } else if (c == H5T_STRING) {
        htri_t var = H5Tis_variable_str(type);
        if (var < 0)
            goto done;
        mem = H5Tcopy(H5T_C_S1);
        /* HDF5 converts no strings between character sets: read in the file's. */
        H5T_cset_t cset = H5Tget_cset(type);
        if (mem < 0 || cset < 0 || H5Tset_cset(mem, cset) < 0)
            goto done;
        if (var) {
            char *s = NULL;
            if (H5Tset_size(mem, H5T_VARIABLE) < 0 || H5Aread(a, mem, &s) < 0 || !s)
                goto done;
            size_t len = strnlen(s, MAX_ATTR_TEXT);
            at.text = len < MAX_ATTR_TEXT ? malloc(len + 1) : NULL;
            if (at.text)
                memcpy(at.text, s, len + 1);
            H5free_memory(s);
        } else {
            size_t size = H5Tget_size(type);
            if (size == 0 || size >= MAX_ATTR_TEXT || H5Tset_size(mem, size + 1) < 0 ||
                H5Tset_strpad(mem, H5T_STR_NULLTERM) < 0)
                goto done;
            at.text = calloc(size + 2, 1);
            if (at.text && H5Aread(a, mem, at.text) < 0) {
                free(at.text);
                at.text = NULL;
            }
        }
        if (!at.text)
            goto done;
    } else {
        goto done;
    }
    size_t nlen = strlen(aname);
    at.name = malloc(nlen + 1);
    ml_h5data_attr_t *grown = at.name ? realloc(d->attrs, (size_t)(d->nattrs + 1) * sizeof *grown)
                                      : NULL;
    if (!grown) {
        free(at.name);
        goto done; /* at.text is freed there */
    }
    memcpy(at.name, aname, nlen + 1);
    d->attrs = grown;
    d->attrs[d->nattrs].name = at.name;
    d->attrs[d->nattrs].text = at.text;
    d->attrs[d->nattrs].number = at.number;
    d->nattrs++;
    at.text = NULL;
done:
    free(at.text);
    ml__h5_close(&mem, H5Tclose);
    ml__h5_close(&space, H5Sclose);
    ml__h5_close(&type, H5Tclose);
    ml__h5_close(&a, H5Aclose);
}

/* Attributes moonlab writes, then those the file lists in its "attributes" attribute (names
 * separated by newlines, as ml_h5data_write records the caller's). */
static void read_attrs(ml_h5data_t *d, hid_t file)
{
    static const char *const known[] = {"moonlab_dataset", "rows", "created_by", "missing",
                                        "attributes", NULL};
    for (const char *const *k = known; *k; k++)
        read_attr(d, file, *k);
    const char *list = NULL;
    for (int i = 0; i < d->nattrs; i++)
        if (strcmp(d->attrs[i].name, "attributes") == 0)
            list = d->attrs[i].text;
    if (!list)
        return;
    size_t n = strlen(list);
    char *names = malloc(n + 1);
    if (!names)
        return;
    memcpy(names, list, n + 1); /* d->attrs may move while growing */
    for (char *p = names, *nl; p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (*p)
            read_attr(d, file, p);
    }
    free(names);
}


static int read_file(ml_h5data_t *d, hid_t file, const char *name, const ml_h5data_spec_t *spec,
                     uint64_t size)
{
    static const ml_h5data_spec_t defaults = {0};
    if (!spec)
        spec = &defaults;
    reader_t r = {.file = file, .name = name, .max_bytes = spec->max_bytes, .size = size};
    const char *xname = spec->x ? spec->x : "x";
    const char *names[3] = {xname, spec->y ? spec->y : "y",
                            spec->weights ? spec->weights : "weights"};
    const int explicit_name[3] = {1, spec->y != NULL, spec->weights != NULL};
    ml_tensor_t *outs[3] = {&d->x, &d->y, &d->weights};
    int64_t nan_rows[3] = {0, 0, 0}; /* weights never hold NaN */
    static const int ranks[3] = {ML_MAX_DIMS, ML_MAX_DIMS, 1};
    if (!xname[0])
        return ml__fail(ML_EARG, "%s: the name of x is empty", name);
    for (int k = 0; k < 3; k++) {
        if (!names[k][0])
            continue; /* "" = do not read */
        if (!object_exists(file, names[k])) {
            if (!explicit_name[k])
                continue;
            return ml__fail(ML_EFORMAT, "%s: no dataset '%s' in the file", name, names[k]);
        }
        int rc = read_dataset(&r, names[k], ranks[k], outs[k],
                              k < 2 && spec->missing != ML_H5_MISSING_ERROR ? &nan_rows[k] : NULL);
        if (rc)
            return rc;
    }
    for (int k = 1; k < 3; k++)
        if (outs[k]->data && outs[k]->shape[0] != d->x.shape[0])
            return ml__fail(ML_EFORMAT, "%s: dataset '%s' has %lld rows, '%s' has %lld", name,
                            names[k], (long long)outs[k]->shape[0], xname,
                            (long long)d->x.shape[0]);
    read_attrs(d, file);
    /* NaN in x or y: missing values, when asked for or when the file says it holds some */
    int declared = 0;
    for (int i = 0; i < d->nattrs; i++)
        if (strcmp(d->attrs[i].name, "missing") == 0 && !d->attrs[i].text &&
            d->attrs[i].number > 0)
            declared = 1;
    for (int k = 0; k < 2; k++)
        if (nan_rows[k] && spec->missing != ML_H5_MISSING_NAN && !declared)
            return ml__fail(ML_ENAN, "%s: dataset '%s' row %lld holds nan, not a finite number "
                            "(the file declares no missing values)", name, names[k],
                            (long long)nan_rows[k]);
    return ML_OK;
}

/* ---- checks before libhdf5 sees a file ----
 * libhdf5 1.10.8 trusts the addresses in a file's superblock and root group: a damaged file
 * can make it read through a NULL or wild pointer (found by tests/fuzz/fuzz_h5data.c; the
 * inputs are in tests/fuzz/regressions/h5data/). What can be checked without decoding the
 * whole format is checked here first: the superblock's fields, and that the root group's
 * object header, symbol-table B-tree and local heap lie inside the file and carry their
 * signatures. Deeper structures (object headers of datasets, chunk indexes) stay the
 * library's to parse. */

static int undefined(uint64_t v, int n)
{
    return n >= 8 ? v == UINT64_MAX : v == (UINT64_C(1) << (8 * n)) - 1;
}

static int check_signature_at(const ml__h5_source_t *src, uint64_t base, uint64_t addr,
                              const char *sig, const char *what, const char *name)
{
    unsigned char b[4];
    if (addr >= src->size - base || !ml__h5_read_at(src, base + addr, b, 4))
        return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: the root group's %s at 0x%llx lies "
                        "outside the file (%llu bytes)", name, what, (unsigned long long)addr,
                        (unsigned long long)src->size);
    if (sig && memcmp(b, sig, 4) != 0)
        return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: no %s signature at 0x%llx, where "
                        "the root group's %s should be", name, sig, (unsigned long long)addr,
                        what);
    return ML_OK;
}

static int check_structure(const ml__h5_source_t *src, const char *name)
{
    unsigned char b[128];
    uint64_t base;
    if (!ml__h5_find_superblock(src, &base))
        return ml__fail(ML_EFORMAT, "%s: not an HDF5 file (no HDF5 signature)", name);
    size_t have = src->size - base < sizeof b ? (size_t)(src->size - base) : sizeof b;
    if (!ml__h5_read_at(src, base, b, have) || have < 12)
        return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: truncated superblock", name);
    int version = b[8];
    if (version <= 1) {
        size_t so = b[13], sl = b[14];
        size_t at = version == 1 ? 28 : 24;
        if ((so != 2 && so != 4 && so != 8) || (sl != 2 && sl != 4 && sl != 8))
            return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: superblock gives %zu-byte "
                            "addresses and %zu-byte lengths", name, so, sl);
        if (ml__h5_le(b + 16, 2) == 0 || ml__h5_le(b + 18, 2) == 0)
            return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: superblock gives a B-tree rank "
                            "of 0", name);
        size_t need = at + 6 * so + 8 + 16;
        if (have < need)
            return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: truncated superblock", name);
        const unsigned char *entry = b + at + 4 * so; /* root symbol table entry */
        uint64_t ohdr = ml__h5_le(entry + so, (int)so);
        uint32_t cache = (uint32_t)ml__h5_le(entry + 2 * so, 4);
        int rc = check_signature_at(src, base, ohdr, NULL, "object header", name);
        if (rc || cache != 1)
            return rc;
        uint64_t btree = ml__h5_le(entry + 2 * so + 8, (int)so);
        uint64_t heap = ml__h5_le(entry + 3 * so + 8, (int)so);
        if ((rc = check_signature_at(src, base, btree, "TREE", "symbol table B-tree", name)) ||
            (rc = check_signature_at(src, base, heap, "HEAP", "local heap", name)))
            return rc;
        unsigned char h[32];
        size_t hn = 8 + 2 * sl + so;
        if (!ml__h5_read_at(src, base + heap, h, hn))
            return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: truncated local heap", name);
        uint64_t dsize = ml__h5_le(h + 8, (int)sl);
        uint64_t free_off = ml__h5_le(h + 8 + sl, (int)sl);
        uint64_t daddr = ml__h5_le(h + 8 + 2 * sl, (int)so);
        uint64_t room = src->size - base;
        if (h[4] != 0 || dsize == 0 || daddr >= room || dsize > room - daddr ||
            (!undefined(free_off, (int)sl) && free_off >= dsize))
            return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: the root group's local heap "
                            "(version %d, %llu bytes at 0x%llx) does not fit the file", name,
                            h[4], (unsigned long long)dsize, (unsigned long long)daddr);
        return ML_OK;
    }
    if (version == 2 || version == 3) {
        size_t so = b[9];
        if ((so != 2 && so != 4 && so != 8) || (b[10] != 2 && b[10] != 4 && b[10] != 8))
            return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: superblock gives %zu-byte "
                            "addresses and %d-byte lengths", name, so, b[10]);
        if (have < 12 + 4 * so + 4)
            return ml__fail(ML_EFORMAT, "%s: damaged HDF5 file: truncated superblock", name);
        uint64_t ohdr = ml__h5_le(b + 12 + 3 * so, (int)so);
        return check_signature_at(src, base, ohdr, "OHDR", "object header", name);
    }
    return ml__fail(ML_EFORMAT, "%s: HDF5 superblock version %d is not supported (0 to 3)", name,
                    version);
}

/* Read-only access without file locking (a reader must not fail on file systems without
 * flock, and never writes). */
static hid_t read_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if ML__H5_FILE_LOCKING
    if (fapl >= 0)
        H5Pset_file_locking(fapl, 0, 1);
#endif
    return fapl;
}

static int finish_read(ml_h5data_t *d, hid_t file, const char *name,
                       const ml_h5data_spec_t *spec, uint64_t size)
{
    int rc = read_file(d, file, name, spec, size);
    if (H5Fclose(file) < 0 && rc == ML_OK)
        rc = h5_fail(ML_EFORMAT, "%s: cannot close the file", name);
    if (rc)
        ml_h5data_free(d);
    return rc;
}

int ml_h5data_read(ml_h5data_t *d, const char *path, const ml_h5data_spec_t *spec)
{
    memset(d, 0, sizeof *d);
    if (!path || !path[0])
        return ml__fail(ML_EARG, "hdf5: no path");
    ml__h5_quiet();
    /* Our own open first: HDF5 reports a missing file and a non-HDF5 file alike. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ml__fail(ML_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    const int stat_failed = fstat(fd, &st) != 0;
    if (stat_failed || S_ISDIR(st.st_mode)) {
        const int err = errno;
        close(fd);
        return ml__fail(ML_EIO, "%s: cannot read: %s", path,
                        stat_failed ? strerror(err) : "is a directory");
    }
    ml__h5_source_t src = {.fd = fd, .size = (uint64_t)st.st_size};
    int checked = check_structure(&src, path);
    close(fd);
    if (checked)
        return checked;
    hid_t fapl = read_fapl();
    hid_t file = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : H5I_INVALID_HID;
    if (file < 0) {
        int rc = h5_fail(ML_EFORMAT, "%s: cannot open as HDF5 (damaged file?)", path);
        ml__h5_close(&fapl, H5Pclose);
        return rc;
    }
    ml__h5_close(&fapl, H5Pclose);
    return finish_read(d, file, path, spec, (uint64_t)st.st_size);
}

int ml_h5data_parse(ml_h5data_t *d, const void *buf, size_t n, const char *name,
                    const ml_h5data_spec_t *spec)
{
    memset(d, 0, sizeof *d);
    if (!name)
        name = "(memory)";
    if (!buf || n == 0)
        return ml__fail(ML_EFORMAT, "%s: empty file, expected HDF5", name);
    ml__h5_source_t src = {.mem = buf, .size = n};
    int checked = check_structure(&src, name);
    if (checked)
        return checked;
    ml__h5_quiet();
    /* The core driver on a copy of the image, never backed by a file. With an image, HDF5
     * refuses a name that exists on disk, so it gets one that cannot. */
    hid_t fapl = read_fapl();
    hid_t file = H5I_INVALID_HID;
    void *image; /* HDF5 takes a non-const pointer, but copies the image and never writes it */
    memcpy(&image, &buf, sizeof image);
    if (fapl >= 0 && H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 &&
        H5Pset_file_image(fapl, image, n) >= 0)
        file = H5Fopen("/nonexistent/moonlab-h5data-image", H5F_ACC_RDONLY, fapl);
    if (file < 0) {
        int rc = h5_fail(ML_EFORMAT, "%s: cannot open as HDF5 (not HDF5, or damaged)", name);
        ml__h5_close(&fapl, H5Pclose);
        return rc;
    }
    ml__h5_close(&fapl, H5Pclose);
    return finish_read(d, file, name, spec, n);
}

/* ---- writing ---- */

static size_t type_size(ml_h5_type_t t)
{
    return t == ML_H5_FLOAT64 ? 8 : t == ML_H5_UINT8 ? 1 : 4;
}

static hid_t file_type(ml_h5_type_t t)
{
    switch (t) {
    case ML_H5_FLOAT64: return H5T_IEEE_F64LE;
    case ML_H5_UINT8: return H5T_STD_U8LE;
    case ML_H5_INT32: return H5T_STD_I32LE;
    default: return H5T_IEEE_F32LE;
    }
}

static hid_t mem_type(ml_h5_type_t t)
{
    switch (t) {
    case ML_H5_FLOAT64: return H5T_NATIVE_DOUBLE;
    case ML_H5_UINT8: return H5T_NATIVE_UINT8;
    case ML_H5_INT32: return H5T_NATIVE_INT32;
    default: return H5T_NATIVE_FLOAT;
    }
}

typedef struct {
    const char *path;   /* final path, for messages */
    hid_t file;
    const ml_h5data_save_t *s;
    int64_t n;          /* rows written */
    int64_t missing;    /* NaN values written (x and y) */
} writer_t;

/* Source row i of the data set (through s->rows when given). */
static int64_t source_row(const ml_h5data_save_t *s, int64_t i)
{
    return s->rows ? s->rows[i] : i;
}

/* Converts one float to the storage type at dst; ML_EARG/ML_ENAN naming the row. NaN (a
 * missing value) is kept in x and y stored as floats, and counted. */
static int put(writer_t *w, const char *what, ml_h5_type_t type, int64_t row, float v,
               unsigned char *dst)
{
    if (isnan(v) && strcmp(what, "weights") != 0) {
        if (type != ML_H5_FLOAT32 && type != ML_H5_FLOAT64)
            return ml__fail(ML_EARG, "cannot save '%s': %s row %lld holds nan (a missing "
                            "value), which storage type %s cannot hold; store it as float32 "
                            "or float64", w->path, what, (long long)row + 1,
                            type == ML_H5_UINT8 ? "uint8" : "int32");
        w->missing++;
    } else if (!isfinite(v)) {
        return ml__fail(ML_ENAN, "cannot save '%s': %s row %lld holds %g, not a finite "
                        "number", w->path, what, (long long)row + 1,
                        isnan(v) ? fabs((double)v) : (double)v);
    }
    switch (type) {
    case ML_H5_FLOAT32:
        memcpy(dst, &v, 4);
        break;
    case ML_H5_FLOAT64: {
        double d = v;
        memcpy(dst, &d, 8);
        break;
    }
    case ML_H5_UINT8:
        if (v != floorf(v) || v < 0.0f || v > 255.0f)
            return ml__fail(ML_EARG, "cannot save '%s': %s row %lld holds %g, which is "
                            "not a whole number 0..255 (storage type uint8)",
                            w->path, what, (long long)row + 1, (double)v);
        *dst = (unsigned char)v;
        break;
    case ML_H5_INT32: {
        if (v != floorf(v) || v < -2147483648.0f || v >= 2147483648.0f)
            return ml__fail(ML_EARG, "cannot save '%s': %s row %lld holds %g, which is "
                            "not a whole number in the int32 range",
                            w->path, what, (long long)row + 1, (double)v);
        int32_t i = (int32_t)v;
        memcpy(dst, &i, 4);
        break;
    }
    }
    return ML_OK;
}

/* One tensor's selected rows as dataset `what`, written in blocks of rows (a subset is
 * gathered block by block, never copied whole). */
static int write_tensor(writer_t *w, const char *what, const ml_tensor_t *t, ml_h5_type_t type)
{
    hsize_t dims[ML_MAX_DIMS];
    dims[0] = (hsize_t)w->n;
    int64_t per_row = 1;
    for (int i = 1; i < t->ndim; i++) {
        dims[i] = (hsize_t)t->shape[i];
        per_row *= t->shape[i];
    }
    hid_t space = H5Screate_simple(t->ndim, dims, NULL);
    hid_t dset = space >= 0 ? H5Dcreate2(w->file, what, file_type(type), space, H5P_DEFAULT,
                                         H5P_DEFAULT, H5P_DEFAULT)
                            : H5I_INVALID_HID;
    hid_t mspace = H5I_INVALID_HID;
    unsigned char *buf = NULL;
    int rc = ML_OK;
    if (dset < 0) {
        rc = h5_fail(ML_EIO, "cannot save '%s': cannot create dataset '%s'", w->path,
                     what);
        goto done;
    }
    if (w->n == 0 || per_row == 0)
        goto done;
    size_t esize = type_size(type);
    int64_t block = (1 << 20) / per_row; /* about a million values per write */
    block = block < 1 ? 1 : block > w->n ? w->n : block;
    buf = malloc((size_t)block * (size_t)per_row * esize);
    if (!buf) {
        rc = ml__fail(ML_ENOMEM, "cannot save '%s': out of memory", w->path);
        goto done;
    }
    int64_t idx[ML_MAX_DIMS];
    for (int64_t start = 0; start < w->n && rc == ML_OK; start += block) {
        int64_t count = w->n - start < block ? w->n - start : block;
        unsigned char *dst = buf;
        for (int64_t i = 0; i < count && rc == ML_OK; i++) {
            int64_t row = source_row(w->s, start + i);
            memset(idx, 0, sizeof idx);
            idx[0] = row;
            for (int64_t e = 0; e < per_row && rc == ML_OK; e++, dst += esize) {
                rc = put(w, what, type, row, *ml_tensor_at(t, idx), dst);
                for (int d = t->ndim - 1; d >= 1; d--) {
                    if (++idx[d] < t->shape[d])
                        break;
                    idx[d] = 0;
                }
            }
        }
        if (rc)
            break;
        hsize_t off[ML_MAX_DIMS] = {0}, cnt[ML_MAX_DIMS];
        memcpy(cnt, dims, sizeof cnt);
        off[0] = (hsize_t)start;
        cnt[0] = (hsize_t)count;
        ml__h5_close(&mspace, H5Sclose);
        mspace = H5Screate_simple(t->ndim, cnt, NULL);
        if (mspace < 0 ||
            H5Sselect_hyperslab(space, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
            H5Dwrite(dset, mem_type(type), mspace, space, H5P_DEFAULT, buf) < 0)
            rc = h5_fail(ML_EIO, "cannot save '%s': cannot write dataset '%s'", w->path,
                         what);
    }
done:
    free(buf);
    ml__h5_close(&mspace, H5Sclose);
    ml__h5_close(&dset, H5Dclose);
    ml__h5_close(&space, H5Sclose);
    return rc;
}

static int write_attr(writer_t *w, const char *name, const char *text, const double *number,
                      const int64_t *integer)
{
    hid_t space = H5Screate(H5S_SCALAR), type = H5I_INVALID_HID, a = H5I_INVALID_HID;
    int rc = ML_OK;
    if (text) {
        type = H5Tcopy(H5T_C_S1);
        if (type >= 0 && (H5Tset_size(type, H5T_VARIABLE) < 0 ||
                          H5Tset_cset(type, H5T_CSET_UTF8) < 0))
            ml__h5_close(&type, H5Tclose);
    }
    hid_t ft = text ? type : number ? H5T_IEEE_F64LE : H5T_STD_I64LE;
    hid_t mt = text ? type : number ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
    const void *v = text ? (const void *)&text : number ? (const void *)number
                                                        : (const void *)integer;
    if (space >= 0 && ft >= 0)
        a = H5Acreate2(w->file, name, ft, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mt, v) < 0)
        rc = h5_fail(ML_EIO, "cannot save '%s': cannot write attribute '%s'", w->path,
                     name);
    ml__h5_close(&a, H5Aclose);
    ml__h5_close(&type, H5Tclose);
    ml__h5_close(&space, H5Sclose);
    return rc;
}

static int check_save(const char *path, const ml_h5data_save_t *s, int64_t *nrows)
{
    if (!s || !s->x || !s->x->data)
        return ml__fail(ML_EARG, "cannot save '%s': no x", path);
    const ml_tensor_t *ts[3] = {s->x, s->y, s->weights};
    static const char *const names[3] = {"x", "y", "weights"};
    int64_t n = s->x->ndim >= 1 ? s->x->shape[0] : -1;
    for (int k = 0; k < 3; k++) {
        const ml_tensor_t *t = ts[k];
        if (!t)
            continue;
        int maxd = k == 2 ? 1 : ML_MAX_DIMS;
        if (t->ndim < 1 || t->ndim > maxd)
            return ml__fail(ML_EARG, "cannot save '%s': %s has %d dimensions, expected 1 "
                            "to %d", path, names[k], t->ndim, maxd);
        if (t->shape[0] != n)
            return ml__fail(ML_EARG, "cannot save '%s': %s has %lld rows, x has %lld",
                            path, names[k], (long long)t->shape[0], (long long)n);
        if (ml_tensor_numel(t) > 0 && !t->data)
            return ml__fail(ML_EARG, "cannot save '%s': %s has no data", path, names[k]);
    }
    if ((int)s->x_type < 0 || s->x_type > ML_H5_INT32 || (int)s->y_type < 0 ||
        s->y_type > ML_H5_INT32)
        return ml__fail(ML_EARG, "cannot save '%s': unknown storage type", path);
    if (s->rows) {
        if (s->nrows < 0)
            return ml__fail(ML_EARG, "cannot save '%s': %lld rows", path,
                            (long long)s->nrows);
        for (int64_t i = 0; i < s->nrows; i++)
            if (s->rows[i] < 0 || s->rows[i] >= n)
                return ml__fail(ML_EARG, "cannot save '%s': row %lld of the selection is "
                                "%lld, outside 1..%lld", path, (long long)i + 1,
                                (long long)s->rows[i] + 1, (long long)n);
        n = s->nrows;
    }
    static const char *const ours[] = {"moonlab_dataset", "rows", "created_by", "missing",
                                       "attributes", NULL};
    for (int i = 0; i < s->nattrs; i++) {
        const ml_h5data_attr_t *a = &s->attrs[i];
        if (!a->name || !a->name[0])
            return ml__fail(ML_EARG, "cannot save '%s': attribute %d has no name", path,
                            i + 1);
        for (const char *const *o = ours; *o; o++)
            if (strcmp(a->name, *o) == 0)
                return ml__fail(ML_EARG, "cannot save '%s': attribute '%s' is written by "
                                "moonlab itself", path, a->name);
        for (int j = 0; j < i; j++)
            if (strcmp(s->attrs[j].name, a->name) == 0)
                return ml__fail(ML_EARG, "cannot save '%s': attribute '%s' is given twice",
                                path, a->name);
    }
    *nrows = n;
    return ML_OK;
}

int ml_h5data_write(const char *path, const ml_h5data_save_t *s)
{
    if (!path || !path[0])
        return ml__fail(ML_EARG, "cannot save: empty file name");
    int64_t n = 0;
    int rc = check_save(path, s, &n);
    if (rc)
        return rc;
    ml__h5_quiet();
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!base[0])
        return ml__fail(ML_EARG, "cannot save '%s': not a file name", path);
    size_t dirlen = (size_t)(base - path);
    char dir[4096];
    if (dirlen + 2 > sizeof dir)
        return ml__fail(ML_EARG, "cannot save '%s': path too long", path);
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", dirlen > 1 ? (int)dirlen - 1 : 1, path);
    else
        snprintf(dir, sizeof dir, ".");
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ml__fail(ML_EIO, "cannot save '%s': directory '%s' does not exist", path,
                        dir);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return ml__fail(ML_EIO, "cannot save '%s': it is a directory", path);
    char *tmp = ml__tmp_path(path);
    if (!tmp)
        return ml__fail(ML_ENOMEM, "cannot save '%s': out of memory", path);

    writer_t w = {.path = path, .s = s, .n = n};
    hid_t fapl = ml__h5_write_fapl();
    w.file = fapl >= 0 ? H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : H5I_INVALID_HID;
    if (w.file < 0) {
        rc = h5_fail(ML_EIO, "cannot save '%s': cannot create '%s'", path, tmp);
        ml__h5_close(&fapl, H5Pclose);
        free(tmp);
        return rc;
    }
    ml__h5_close(&fapl, H5Pclose);

    int64_t version = 1;
    char created_by[64];
    snprintf(created_by, sizeof created_by, "moonlab %s", ML_VERSION);
    rc = write_tensor(&w, "x", s->x, s->x_type);
    if (!rc && s->y)
        rc = write_tensor(&w, "y", s->y, s->y_type);
    if (!rc && s->weights)
        rc = write_tensor(&w, "weights", s->weights, ML_H5_FLOAT32);
    if (!rc)
        rc = write_attr(&w, "moonlab_dataset", NULL, NULL, &version);
    if (!rc)
        rc = write_attr(&w, "rows", NULL, NULL, &w.n);
    if (!rc)
        rc = write_attr(&w, "created_by", created_by, NULL, NULL);
    if (!rc && w.missing > 0)
        rc = write_attr(&w, "missing", NULL, NULL, &w.missing);
    size_t listlen = 1;
    for (int i = 0; !rc && i < s->nattrs; i++) {
        rc = write_attr(&w, s->attrs[i].name, s->attrs[i].text,
                        s->attrs[i].text ? NULL : &s->attrs[i].number, NULL);
        listlen += strlen(s->attrs[i].name) + 1;
    }
    /* the caller's attribute names, so that a reader can open them by name */
    char *list = !rc && s->nattrs > 0 ? malloc(listlen) : NULL;
    if (list) {
        size_t used = 0;
        for (int i = 0; i < s->nattrs; i++)
            used += (size_t)snprintf(list + used, listlen - used, "%s%s", i ? "\n" : "",
                                     s->attrs[i].name);
        rc = write_attr(&w, "attributes", list, NULL, NULL);
        free(list);
    } else if (!rc && s->nattrs > 0) {
        rc = ml__fail(ML_ENOMEM, "cannot save '%s': out of memory", path);
    }
    if (!rc && H5Fflush(w.file, H5F_SCOPE_GLOBAL) < 0)
        rc = h5_fail(ML_EIO, "cannot save '%s'", path);
    if (H5Fclose(w.file) < 0 && !rc)
        rc = h5_fail(ML_EIO, "cannot save '%s'", path);
    const char *step;
    if (!rc && ml__move_into_place(tmp, path, &step) != 0)
        rc = ml__fail(ML_EIO, "cannot save '%s': %s '%s': %s", path, step, tmp,
                      strerror(errno));
    if (rc)
        unlink(tmp);
    else
        ml__sync_path(dir, 1); /* the file is complete and in place; a failed dir sync only
                                  weakens its survival of a power cut */
    free(tmp);
    return rc;
}
