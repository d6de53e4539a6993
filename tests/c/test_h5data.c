/* HDF5 data sets (h5data.h): files this test writes with the HDF5 library directly (every
 * element type we convert, names in groups, attributes) are read back exactly, from a file and
 * from an in-memory image; saved data sets (views, row selections, storage types, attributes)
 * come back equal; and every bad input gives its error naming the file and dataset: missing
 * file, directory, not HDF5, truncated file, missing names, wrong ranks, mismatched rows,
 * strings, NaN, float64 out of float range, the size limit. A failed save leaves no file
 * (and an older file in place untouched). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/h5data.h"

static char dir[64];

static const char *path_of(const char *name)
{
    static char paths[16][128];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

/* A dataset written with the HDF5 library itself, of any type and shape. */
static void put(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
                const hsize_t *dims, const void *data)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t s = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, name, ftype, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(d >= 0);
    if (data)
        CHECK(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(s);
    H5Pclose(lcpl);
}

static unsigned char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    *n = 0;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    if (b)
        *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int empty(const ml_h5data_t *d)
{
    return !d->x.data && !d->y.data && !d->weights.data && d->nattrs == 0 && !d->attrs;
}

static const ml_h5data_attr_t *attr(const ml_h5data_t *d, const char *name)
{
    for (int i = 0; i < d->nattrs; i++)
        if (strcmp(d->attrs[i].name, name) == 0)
            return &d->attrs[i];
    return NULL;
}

/* Every element type converts exactly; names in groups; the root's attributes. */
static void test_types(void)
{
    const char *p = path_of("types.h5");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d23[2] = {2, 3}, d2[1] = {2}, d2x2x2x1[4] = {2, 2, 2, 1};
    uint8_t u8[6] = {0, 1, 2, 128, 254, 255};
    int16_t i16[2] = {-32768, 32767};
    int64_t i64[2] = {-5, (int64_t)1 << 40};
    double f64[6] = {0.5, -1.25, 3e30, -3e-30, 1e-45, 7};
    float f32[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint32_t u32be[2] = {1, 4000000000u};
    put(f, "u8", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, d23, u8);
    put(f, "grp/sub/i16", H5T_STD_I16BE, H5T_NATIVE_INT16, 1, d2, i16);
    put(f, "i64", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d2, i64);
    put(f, "f64be", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 2, d23, f64);
    put(f, "f32", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 4, d2x2x2x1, f32);
    put(f, "u32be", H5T_STD_U32BE, H5T_NATIVE_UINT32, 1, d2, u32be);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "answer", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
    int v42 = 42;
    H5Awrite(a, H5T_NATIVE_INT, &v42);
    H5Aclose(a);
    hid_t fixed = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, 5);
    a = H5Acreate2(f, "fixed", fixed, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, fixed, "hello");
    H5Aclose(a);
    H5Tclose(fixed);
    /* attributes are opened by the names the file lists, never iterated */
    hid_t vstr = H5Tcopy(H5T_C_S1);
    H5Tset_size(vstr, H5T_VARIABLE);
    a = H5Acreate2(f, "attributes", vstr, s, H5P_DEFAULT, H5P_DEFAULT);
    const char *list = "answer\nfixed\nnot-there";
    H5Awrite(a, vstr, &list);
    H5Aclose(a);
    a = H5Acreate2(f, "unlisted", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, &v42);
    H5Aclose(a);
    H5Tclose(vstr);
    H5Sclose(s);
    H5Fclose(f);

    ml_h5data_t d;
    ml_h5data_spec_t spec = {.x = "u8", .y = "grp/sub/i16", .weights = "i64"};
    CHECK(ml_h5data_read(&d, p, &spec) == ML_OK);
    CHECK(d.x.ndim == 2 && d.x.shape[0] == 2 && d.x.shape[1] == 3);
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= d.x.data[i] == (float)u8[i];
    CHECK(ok);
    CHECK(d.y.ndim == 1 && d.y.data[0] == -32768.0f && d.y.data[1] == 32767.0f);
    CHECK(d.weights.data[0] == -5.0f && d.weights.data[1] == (float)((int64_t)1 << 40));
    const ml_h5data_attr_t *at = attr(&d, "answer");
    CHECK(at && !at->text && at->number == 42.0);
    at = attr(&d, "fixed");
    CHECK(at && at->text && strcmp(at->text, "hello") == 0);
    CHECK(!attr(&d, "unlisted") && !attr(&d, "not-there") && attr(&d, "attributes"));
    ml_h5data_free(&d);
    CHECK(empty(&d));

    /* float64 (big-endian) to float32, 4 dimensions, unsigned 32-bit big-endian */
    spec = (ml_h5data_spec_t){.x = "f64be", .y = "", .weights = ""};
    CHECK(ml_h5data_read(&d, p, &spec) == ML_OK);
    ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= d.x.data[i] == (float)f64[i];
    CHECK(ok && !d.y.data);
    ml_h5data_free(&d);
    spec = (ml_h5data_spec_t){.x = "f32", .y = "u32be"};
    CHECK(ml_h5data_read(&d, p, &spec) == ML_OK);
    CHECK(d.x.ndim == 4 && d.x.shape[3] == 1 && d.x.data[7] == 8.0f);
    CHECK(d.y.data && d.y.data[1] == 4e9f);
    CHECK(!d.weights.data); /* default name, absent: not read */
    ml_h5data_free(&d);

    /* the same bytes as an in-memory image give the same result */
    size_t n;
    unsigned char *img = slurp(p, &n);
    CHECK(img && n > 0);
    spec = (ml_h5data_spec_t){.x = "u8", .y = "grp/sub/i16"};
    CHECK(ml_h5data_parse(&d, img, n, "image.h5", &spec) == ML_OK);
    CHECK(d.x.shape[1] == 3 && d.x.data[5] == 255.0f && d.y.data[1] == 32767.0f);
    ml_h5data_free(&d);
    /* a truncated image and a damaged signature are refused, naming the image */
    CHECK_ERR(ml_h5data_parse(&d, img, n / 2, "cut.h5", &spec), ML_EFORMAT, "cut.h5");
    CHECK(empty(&d));
    img[0] ^= 0xff;
    CHECK_ERR(ml_h5data_parse(&d, img, n, "sig.h5", &spec), ML_EFORMAT, "sig.h5",
              "not an HDF5 file");
    img[0] ^= 0xff;
    /* the checks made before libhdf5 sees the file (a superblock of version 0, as HDF5 writes
     * by default: the root group's B-tree and local heap addresses are at 0x50 and 0x58) */
    CHECK(img[8] == 0 && img[13] == 8);
    unsigned char saved[8];
    memcpy(saved, img + 0x58, 8);
    memset(img + 0x58, 0, 8);
    img[0x58] = 0x60; /* the object header's address: no HEAP there */
    CHECK_ERR(ml_h5data_parse(&d, img, n, "heap.h5", &spec), ML_EFORMAT, "heap.h5",
              "no HEAP signature at 0x60", "local heap");
    memset(img + 0x58, 0xee, 8);
    CHECK_ERR(ml_h5data_parse(&d, img, n, "far.h5", &spec), ML_EFORMAT, "far.h5",
              "local heap at 0xeeeeeeeeeeeeeeee lies outside the file");
    memcpy(img + 0x58, saved, 8);
    img[0x50] ^= 0x10;
    CHECK_ERR(ml_h5data_parse(&d, img, n, "tree.h5", &spec), ML_EFORMAT, "tree.h5",
              "no TREE signature");
    img[0x50] ^= 0x10;
    img[13] = 3;
    CHECK_ERR(ml_h5data_parse(&d, img, n, "size.h5", &spec), ML_EFORMAT, "size.h5",
              "3-byte addresses");
    img[13] = 8;
    img[8] = 7;
    CHECK_ERR(ml_h5data_parse(&d, img, n, "v7.h5", &spec), ML_EFORMAT, "v7.h5",
              "superblock version 7");
    img[8] = 0;
    CHECK(ml_h5data_parse(&d, img, n, "fixed.h5", &spec) == ML_OK);
    ml_h5data_free(&d);
    CHECK_ERR(ml_h5data_parse(&d, img, 0, "zero.h5", &spec), ML_EFORMAT, "zero.h5", "empty");
    free(img);
}

/* Every way a file can be wrong, each naming the file and the dataset. */
static void test_errors(void)
{
    const char *p = path_of("bad.h5");
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d3[1] = {3}, d2[1] = {2}, d5[5] = {1, 1, 1, 1, 2}, d32[2] = {3, 2};
    float x[6] = {1, 2, 3, 4, 5, 6}, nan3[3] = {1, NAN, 2};
    double big[3] = {1, 1e300, 2};
    put(f, "x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d32, x);
    put(f, "y2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d2, x);
    put(f, "w2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d32, x);
    put(f, "scalar", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0, NULL, x);
    put(f, "five", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 5, d5, x);
    put(f, "nan", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d3, nan3);
    put(f, "big", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d3, big);
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 4);
    put(f, "text", str, str, 1, d3, "abcdefghijkl");
    H5Tclose(str);
    put(f, "unwritten", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d3, NULL);
    hid_t g = H5Gcreate2(f, "group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);

    ml_h5data_t d;
    ml_h5data_spec_t spec = {.y = "labels"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "no dataset 'labels'");
    CHECK(empty(&d));
    spec = (ml_h5data_spec_t){.x = "missing/x"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "no dataset 'missing/x'");
    spec = (ml_h5data_spec_t){.x = "x/inside"}; /* a dataset used as a group */
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "no dataset 'x/inside'");
    spec = (ml_h5data_spec_t){.y = "y2"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "dataset 'y2' has 2 rows, 'x' has 3");
    spec = (ml_h5data_spec_t){.weights = "w2"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "'w2' has 2 dimensions, expected 1 to 1");
    spec = (ml_h5data_spec_t){.x = "scalar"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "'scalar' is a scalar");
    spec = (ml_h5data_spec_t){.x = "five"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "'five' has 5 dimensions, expected 1 to 4");
    /* NaN in a file that declares no missing values: an error, unless asked for */
    spec = (ml_h5data_spec_t){.x = "nan"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_ENAN, p, "dataset 'nan' row 2 holds nan",
              "declares no missing values");
    CHECK(empty(&d));
    spec = (ml_h5data_spec_t){.x = "x", .y = "nan"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_ENAN, p, "dataset 'nan' row 2 holds nan");
    spec = (ml_h5data_spec_t){.x = "nan", .missing = ML_H5_MISSING_NAN};
    CHECK(ml_h5data_read(&d, p, &spec) == ML_OK);
    CHECK(d.x.shape[0] == 3 && d.x.data[0] == 1.0f && isnan(d.x.data[1]) && d.x.data[2] == 2.0f);
    ml_h5data_free(&d);
    /* weights never hold NaN */
    spec = (ml_h5data_spec_t){.x = "y2", .weights = "nan", .missing = ML_H5_MISSING_NAN};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_ENAN, p, "dataset 'nan' row 2 holds nan");
    spec = (ml_h5data_spec_t){.x = "big"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "'big' row 2 holds 1e+300",
              "outside the float32 range");
    spec = (ml_h5data_spec_t){.x = "text"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "'text' holds string values, not numbers");
    spec = (ml_h5data_spec_t){.x = "unwritten"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p,
              "dataset 'unwritten' stores 0 bytes, its shape and type need 12");
    spec = (ml_h5data_spec_t){.x = "group"};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "'group' is a group, not a dataset");
    spec = (ml_h5data_spec_t){.max_bytes = 20};
    CHECK_ERR(ml_h5data_read(&d, p, &spec), ML_EFORMAT, p, "'x' is 3x2, larger than the size limit");
    spec = (ml_h5data_spec_t){.max_bytes = 24};
    CHECK(ml_h5data_read(&d, p, &spec) == ML_OK && d.x.data[5] == 6.0f);
    ml_h5data_free(&d);
    CHECK(empty(&d));

    /* files that are not there, not files, not HDF5 */
    const char *none = path_of("none.h5");
    CHECK_ERR(ml_h5data_read(&d, none, NULL), ML_EIO, none, "No such file");
    CHECK_ERR(ml_h5data_read(&d, dir, NULL), ML_EIO, dir, "is a directory");
    const char *txt = path_of("text.h5");
    FILE *t = fopen(txt, "w");
    fputs("x,y\n1,2\n", t);
    fclose(t);
    CHECK_ERR(ml_h5data_read(&d, txt, NULL), ML_EFORMAT, txt, "not an HDF5 file");
    /* a file cut in half: the signature is there, the rest is not */
    size_t n;
    unsigned char *img = slurp(p, &n);
    const char *cut = path_of("cut.h5");
    t = fopen(cut, "wb");
    fwrite(img, 1, n / 3, t);
    fclose(t);
    free(img);
    ml__fail(ML_OK, "%s", "");
    int rc = ml_h5data_read(&d, cut, NULL);
    CHECK(rc == ML_EFORMAT && strstr(ml_errmsg(), cut) != NULL);
    CHECK(empty(&d));
    CHECK_ERR(ml_h5data_read(&d, "", NULL), ML_EARG, "no path");
}

/* Saving: views and row selections are written as seen, storage types, attributes. */
static void test_save(void)
{
    const char *p = path_of("saved.h5");
    ml_tensor_t x, y, w, xt;
    int64_t sx[2] = {3, 4}, sy[1] = {4}, sw[1] = {3};
    CHECK(ml_tensor_new(&x, 2, sx) == ML_OK);
    CHECK(ml_tensor_new(&y, 1, sy) == ML_OK);
    CHECK(ml_tensor_new(&w, 1, sw) == ML_OK);
    for (int i = 0; i < 12; i++)
        x.data[i] = (float)i;
    for (int i = 0; i < 4; i++)
        y.data[i] = (float)(3 - i);
    w.data[0] = 0.5f, w.data[1] = 1.0f, w.data[2] = 2.0f;
    /* x seen transposed: (4, 3), row r = column r of the stored matrix */
    CHECK(ml_tensor_transpose(&xt, &x, 0, 1) == ML_OK);
    int64_t rows[3] = {3, 0, 3};
    ml_h5data_attr_t attrs[2] = {{.name = "source", .text = "test"}, {.name = "scale", .number = 2.5}};
    ml_h5data_save_t s = {.x = &xt, .y = &y, .rows = rows, .nrows = 3, .x_type = ML_H5_UINT8,
                          .y_type = ML_H5_INT32, .nattrs = 2, .attrs = attrs};
    CHECK(ml_h5data_write(p, &s) == ML_OK);
    ml_h5data_t d;
    CHECK(ml_h5data_read(&d, p, NULL) == ML_OK);
    CHECK(d.x.ndim == 2 && d.x.shape[0] == 3 && d.x.shape[1] == 3);
    /* rows 3, 0, 3 of xt: xt[r][c] = x[c][r] = 4c + r */
    int ok = 1;
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 3; c++)
            ok &= d.x.data[i * 3 + c] == (float)(4 * c + rows[i]);
    CHECK(ok);
    CHECK(d.y.data && d.y.data[0] == 0.0f && d.y.data[1] == 3.0f && d.y.data[2] == 0.0f);
    CHECK(!d.weights.data);
    const ml_h5data_attr_t *a = attr(&d, "rows");
    CHECK(a && a->number == 3.0);
    a = attr(&d, "moonlab_dataset");
    CHECK(a && a->number == 1.0);
    a = attr(&d, "source");
    CHECK(a && a->text && strcmp(a->text, "test") == 0);
    a = attr(&d, "scale");
    CHECK(a && a->number == 2.5);
    a = attr(&d, "created_by");
    CHECK(a && a->text && strncmp(a->text, "moonlab ", 8) == 0);
    a = attr(&d, "attributes");
    CHECK(a && a->text && strcmp(a->text, "source\nscale") == 0);
    ml_h5data_free(&d);

    /* the stored types are the ones asked for */
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "x", H5P_DEFAULT);
    hid_t ty = H5Dget_type(ds);
    CHECK(H5Tequal(ty, H5T_STD_U8LE) > 0);
    H5Tclose(ty);
    H5Dclose(ds);
    ds = H5Dopen2(f, "y", H5P_DEFAULT);
    ty = H5Dget_type(ds);
    CHECK(H5Tequal(ty, H5T_STD_I32LE) > 0);
    H5Tclose(ty);
    H5Dclose(ds);
    H5Fclose(f);

    /* float32 with weights, every row */
    s = (ml_h5data_save_t){.x = &x, .weights = &w};
    CHECK(ml_h5data_write(p, &s) == ML_OK);
    CHECK(ml_h5data_read(&d, p, NULL) == ML_OK);
    CHECK(d.x.shape[0] == 3 && d.x.shape[1] == 4 && d.x.data[11] == 11.0f);
    CHECK(d.weights.data && d.weights.data[0] == 0.5f && !d.y.data);
    ml_h5data_free(&d);

    /* missing values: NaN in x and y kept where it was, counted in the attribute `missing`;
     * such a file reads back by default, and with missing = error it is refused */
    const char *gaps = path_of("gaps.h5");
    x.data[5] = NAN;
    x.data[11] = NAN;
    y.data[1] = NAN;
    s = (ml_h5data_save_t){.x = &xt, .y = &y, .x_type = ML_H5_FLOAT64};
    CHECK(ml_h5data_write(gaps, &s) == ML_OK);
    CHECK(ml_h5data_read(&d, gaps, NULL) == ML_OK);
    a = attr(&d, "missing");
    CHECK(a && !a->text && a->number == 3.0);
    int same = d.x.shape[0] == 4 && d.x.shape[1] == 3 && d.y.shape[0] == 4;
    for (int r = 0; same && r < 4; r++) {
        for (int c = 0; c < 3; c++) {
            float want = x.data[4 * c + r], got = d.x.data[3 * r + c];
            same &= isnan(want) ? isnan(got) : got == want;
        }
        same &= isnan(y.data[r]) ? isnan(d.y.data[r]) : d.y.data[r] == y.data[r];
    }
    CHECK(same);
    ml_h5data_free(&d);
    ml_h5data_spec_t strict = {.missing = ML_H5_MISSING_ERROR};
    CHECK_ERR(ml_h5data_read(&d, gaps, &strict), ML_ENAN, gaps, "dataset 'x' row 2 holds nan");
    /* a file without NaN has no `missing` attribute */
    CHECK(ml_h5data_read(&d, p, NULL) == ML_OK && attr(&d, "missing") == NULL);
    ml_h5data_free(&d);
    y.data[1] = 2.0f;
    x.data[11] = 11.0f;

    /* failures: nothing at a new path, an older file untouched, no temporary left */
    const char *fresh = path_of("fresh.h5");
    w.data[1] = NAN;
    s = (ml_h5data_save_t){.x = &x, .weights = &w};
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_ENAN, fresh, "weights row 2 holds nan");
    CHECK(!exists(fresh));
    w.data[1] = 1.0f;
    x.data[5] = INFINITY;
    s = (ml_h5data_save_t){.x = &x};
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_ENAN, fresh, "x row 2 holds inf");
    CHECK(!exists(fresh));
    CHECK_ERR(ml_h5data_write(p, &s), ML_ENAN, p, "x row 2");
    CHECK(ml_h5data_read(&d, p, NULL) == ML_OK && d.x.data[5] == 5.0f);
    ml_h5data_free(&d);
    x.data[5] = NAN;
    s.x_type = ML_H5_UINT8;
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_EARG, fresh, "x row 2 holds nan",
              "storage type uint8 cannot hold");
    s.x_type = ML_H5_INT32;
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_EARG, fresh, "int32 cannot hold");
    s.x_type = ML_H5_FLOAT32;
    x.data[5] = 5.5f;
    s.x_type = ML_H5_UINT8;
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_EARG, fresh, "x row 2 holds 5.5", "uint8");
    x.data[5] = -1.0f;
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_EARG, fresh, "x row 2 holds -1", "0..255");
    x.data[5] = 3e9f;
    s.x_type = ML_H5_INT32;
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_EARG, fresh, "int32");
    CHECK(!exists(fresh));
    s = (ml_h5data_save_t){.x = &x, .y = &y};
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_EARG, "y has 4 rows, x has 3");
    int64_t outside[1] = {3};
    s = (ml_h5data_save_t){.x = &x, .rows = outside, .nrows = 1};
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_EARG, "row 1 of the selection is 4, outside 1..3");
    ml_h5data_attr_t dup[1] = {{.name = "rows", .number = 1}};
    s = (ml_h5data_save_t){.x = &x, .nattrs = 1, .attrs = dup};
    CHECK_ERR(ml_h5data_write(fresh, &s), ML_EARG, "attribute 'rows' is written by moonlab");
    s = (ml_h5data_save_t){.x = &x};
    const char *nodir = path_of("no/such/dir.h5");
    CHECK_ERR(ml_h5data_write(nodir, &s), ML_EIO, nodir, "does not exist");
    CHECK(!exists(fresh));
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s/.fresh.h5.tmp-%ld", dir, (long)getpid());
    CHECK(!exists(tmp));

    /* zero rows: empty datasets that read back as (0, 4) */
    s = (ml_h5data_save_t){.x = &x, .rows = rows, .nrows = 0};
    x.data[5] = 5.0f;
    CHECK(ml_h5data_write(fresh, &s) == ML_OK);
    CHECK(ml_h5data_read(&d, fresh, NULL) == ML_OK && d.x.shape[0] == 0 && d.x.shape[1] == 4);
    ml_h5data_free(&d);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    ml_tensor_free(&w);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/moonlab-h5data.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_types();
    test_errors();
    test_save();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_report("h5data");
}
