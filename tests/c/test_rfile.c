/* The result-file reader: files written by the result writer (moonlab/results.h) read back
 * value for value, from disk and from a memory image; types and layouts the reader refuses,
 * written here through the HDF5 C API; and the error paths (missing, truncated, not HDF5,
 * over the size limit), each one message naming the file and the object, with nothing on
 * stderr. */
#define _GNU_SOURCE /* mkdtemp, dup, memmem */

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<hdf5.h>)
#include <hdf5.h>
#else
#include <hdf5/serial/hdf5.h>
#endif
#else
#include <hdf5.h>
#endif

#include "check.h"
#include "moonlab/error.h"
#include "moonlab/results.h"
#include "moonlab/rfile.h"
#include "moonlab/tensor.h"

static char dir[64];

static void join(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

#define CHECK_ERRMSG_HAS(s) CHECK_MSG(strstr(ml_errmsg(), s) != NULL, "message '%s' lacks '%s'", \
                                      ml_errmsg(), s)

/* ---- a run-shaped file from the writer ---- */

static const char *const splits[3] = {"train", "", "t\xc3\xabst, \"quoted\""};

static void write_run_file(const char *path)
{
    ml_results_t *w;
    CHECK(ml_results_create(&w, path) == ML_OK);
    CHECK(ml_results_attr_string(w, "/", "script", "experiments/x.lua") == ML_OK);
    CHECK(ml_results_attr_int64(w, "/", "seed", -42) == ML_OK);
    CHECK(ml_results_attr_double(w, "/", "lr", 0.1) == ML_OK);
    CHECK(ml_results_attr_string(w, "/runs/a", "note", "\xc3\xa9t\xc3\xa9") == ML_OK);

    int64_t epoch[3] = {1, 2, INT64_MAX};
    double loss[3] = {0.5, NAN, -1e300};
    ml_column_t cols[3] = {{"epoch", ML_COL_INT64, epoch},
                           {"loss", ML_COL_FLOAT64, loss},
                           {"split", ML_COL_STRING, splits}};
    CHECK(ml_results_table(w, "/runs/a/history", 3, cols, 3) == ML_OK);
    CHECK(ml_results_table(w, "/runs/a/empty", 3, cols, 0) == ML_OK);
    CHECK(ml_results_attr_int64(w, "/runs/a/history", "rows", 3) == ML_OK);

    ml_tensor_t t;
    int64_t shape[2] = {2, 3};
    CHECK(ml_tensor_new(&t, 2, shape) == ML_OK);
    for (int i = 0; i < 6; i++)
        t.data[i] = (float)i * 0.25f - 1.0f;
    CHECK(ml_results_tensor(w, "/runs/a/params/1.weight", &t) == ML_OK);
    ml_tensor_t s;
    CHECK(ml_tensor_new(&s, 0, NULL) == ML_OK);
    s.data[0] = 7.5f;
    CHECK(ml_results_tensor(w, "/runs/a/params/scalar", &s) == ML_OK);
    int64_t idx[4] = {4, 1, 3, 2};
    CHECK(ml_results_int64(w, "/runs/a/splits/f/1/train", idx, 4) == ML_OK);
    CHECK(ml_results_group(w, "/runs/b") == ML_OK);
    CHECK(ml_results_group(w, "/runs/c") == ML_OK);
    CHECK(ml_results_commit(w) == ML_OK);
    ml_tensor_free(&t);
    ml_tensor_free(&s);
}

static const ml_rattr_t *find_attr(const ml_rattr_t *a, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].name, name) == 0)
            return &a[i];
    return NULL;
}

static void check_run_file(ml_rfile_t *f)
{
    ml_rkind_t k;
    CHECK(ml_rfile_kind(f, "/", &k) == ML_OK && k == ML_RKIND_GROUP);
    CHECK(ml_rfile_kind(f, "/runs/a/history", &k) == ML_OK && k == ML_RKIND_DATASET);
    CHECK(ml_rfile_kind(f, "/runs//a/", &k) == ML_OK && k == ML_RKIND_GROUP);
    CHECK(ml_rfile_kind(f, "/nothing", &k) == ML_OK && k == ML_RKIND_NONE);
    CHECK(ml_rfile_kind(f, "/nothing/deeper", &k) == ML_OK && k == ML_RKIND_NONE);
    /* a path through a dataset leads nowhere */
    CHECK(ml_rfile_kind(f, "/runs/a/history/x", &k) == ML_OK && k == ML_RKIND_NONE);

    char **names;
    int64_t n;
    CHECK(ml_rfile_list(f, "/runs", &names, &n) == ML_OK);
    CHECK(n == 3 && strcmp(names[0], "a") == 0 && strcmp(names[1], "b") == 0 &&
          strcmp(names[2], "c") == 0);
    ml_rfile_free_names(names, n);
    CHECK(ml_rfile_list(f, "/runs/b", &names, &n) == ML_OK && n == 0);
    ml_rfile_free_names(names, n);
    CHECK(ml_rfile_list(f, "/runs/a", &names, &n) == ML_OK && n == 4);
    CHECK(n == 4 && strcmp(names[0], "empty") == 0 && strcmp(names[3], "splits") == 0);
    ml_rfile_free_names(names, n);

    ml_rattr_t *a;
    int na;
    CHECK(ml_rfile_attrs(f, "/", &a, &na) == ML_OK && na == 3);
    /* in byte order of their names */
    CHECK(na == 3 && strcmp(a[0].name, "lr") == 0 && strcmp(a[2].name, "seed") == 0);
    const ml_rattr_t *v = find_attr(a, na, "script");
    CHECK(v && v->v.type == ML_COL_STRING && strcmp(v->v.s, "experiments/x.lua") == 0);
    v = find_attr(a, na, "seed");
    CHECK(v && v->v.type == ML_COL_INT64 && v->v.i == -42);
    v = find_attr(a, na, "lr");
    CHECK(v && v->v.type == ML_COL_FLOAT64 && v->v.d == 0.1);
    ml_rfile_free_attrs(a, na);
    CHECK(ml_rfile_attrs(f, "/runs/a", &a, &na) == ML_OK && na == 1);
    CHECK(na == 1 && strcmp(a[0].v.s, "\xc3\xa9t\xc3\xa9") == 0);
    ml_rfile_free_attrs(a, na);
    /* a dataset's attributes */
    CHECK(ml_rfile_attrs(f, "/runs/a/history", &a, &na) == ML_OK && na == 1 && a[0].v.i == 3);
    ml_rfile_free_attrs(a, na);

    ml_rtable_t t;
    CHECK(ml_rfile_table(f, "/runs/a/history", &t) == ML_OK);
    CHECK(t.ncols == 3 && t.nrows == 3);
    if (t.ncols == 3 && t.nrows == 3) {
        CHECK(strcmp(t.cols[0].name, "epoch") == 0 && t.cols[0].type == ML_COL_INT64);
        CHECK(strcmp(t.cols[1].name, "loss") == 0 && t.cols[1].type == ML_COL_FLOAT64);
        CHECK(strcmp(t.cols[2].name, "split") == 0 && t.cols[2].type == ML_COL_STRING);
        const int64_t *e = t.cols[0].data;
        const double *l = t.cols[1].data;
        char *const *sp = t.cols[2].data;
        CHECK(e[0] == 1 && e[1] == 2 && e[2] == INT64_MAX);
        CHECK(l[0] == 0.5 && isnan(l[1]) && l[2] == -1e300);
        for (int i = 0; i < 3; i++)
            CHECK_MSG(strcmp(sp[i], splits[i]) == 0, "row %d: '%s'", i, sp[i]);
    }
    ml_rfile_free_table(&t);
    CHECK(t.ncols == 0 && t.cols == NULL);
    CHECK(ml_rfile_table(f, "/runs/a/empty", &t) == ML_OK && t.ncols == 3 && t.nrows == 0);
    ml_rfile_free_table(&t);

    ml_tensor_t w;
    CHECK(ml_rfile_tensor(f, "/runs/a/params/1.weight", &w) == ML_OK);
    CHECK(w.ndim == 2 && w.shape[0] == 2 && w.shape[1] == 3);
    for (int i = 0; i < 6 && w.ndim == 2; i++)
        CHECK(w.data[i] == (float)i * 0.25f - 1.0f);
    ml_tensor_free(&w);
    CHECK(ml_rfile_tensor(f, "/runs/a/params/scalar", &w) == ML_OK);
    CHECK(w.ndim == 0 && w.data && w.data[0] == 7.5f);
    ml_tensor_free(&w);
    /* int64 index sets convert to float */
    CHECK(ml_rfile_tensor(f, "/runs/a/splits/f/1/train", &w) == ML_OK);
    CHECK(w.ndim == 1 && w.shape[0] == 4 && w.data[0] == 4.0f && w.data[3] == 2.0f);
    ml_tensor_free(&w);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(size > 0 ? (size_t)size : 1);
    *n = buf ? fread(buf, 1, (size_t)size, fp) : 0;
    fclose(fp);
    return buf;
}

static void spit(const char *path, const void *buf, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(buf, 1, n, fp);
        fclose(fp);
    }
}

static void test_round_trip(void)
{
    char path[128];
    join(path, sizeof path, "run.h5");
    write_run_file(path);

    ml_rfile_t *f;
    CHECK(ml_rfile_open(&f, path) == ML_OK);
    if (f) {
        CHECK(strcmp(ml_rfile_name(f), path) == 0);
        check_run_file(f);
        ml_rfile_close(f);
    }

    /* the same bytes from memory; the image is copied, so it can go at once */
    size_t n;
    unsigned char *img = slurp(path, &n);
    CHECK(img != NULL);
    CHECK(ml_rfile_open_image(&f, img, n, "image.h5") == ML_OK);
    free(img);
    if (f) {
        CHECK(strcmp(ml_rfile_name(f), "image.h5") == 0);
        check_run_file(f);
        ml_rfile_close(f);
    }
    /* named after a file that exists (the one it was read from): still the image */
    img = slurp(path, &n);
    CHECK(img != NULL && ml_rfile_open_image(&f, img, n, path) == ML_OK);
    free(img);
    if (f) {
        CHECK(strcmp(ml_rfile_name(f), path) == 0);
        check_run_file(f);
        ml_rfile_close(f);
    }
    ml_rfile_close(NULL);
}

/* ---- what the reader refuses, written with the HDF5 C API ---- */

static void scalar_attr(hid_t loc, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, v);
    H5Aclose(a);
    H5Sclose(sp);
}

static hid_t dataset_1d(hid_t loc, const char *name, hid_t type, hsize_t n, hid_t dcpl)
{
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Sclose(sp);
    return d;
}

typedef struct { int16_t small; float single; char fixed[6]; uint8_t byte; } odd_row_t;

static void write_odd_file(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "/g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);

    /* readable: fixed-length strings, other integer and float sizes, big-endian */
    hid_t fixed = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, 6);
    H5Tset_strpad(fixed, H5T_STR_NULLPAD);
    scalar_attr(g, "fixed", fixed, "abcdef"); /* all 6 bytes used: no NUL in the file */
    int16_t i16 = -7;
    scalar_attr(g, "short", H5T_NATIVE_INT16, &i16);
    float f32 = 0.25f;
    scalar_attr(g, "single", H5T_NATIVE_FLOAT, &f32);
    double be = -3.5;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(g, "bigendian", H5T_IEEE_F64BE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &be);
    H5Aclose(a);
    H5Sclose(sp);
    hsize_t one = 1;
    sp = H5Screate_simple(1, &one, NULL);
    a = H5Acreate2(g, "one_element", H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    int64_t sixty = 60;
    H5Awrite(a, H5T_NATIVE_INT64, &sixty);
    H5Aclose(a);
    H5Sclose(sp);

    hid_t row = H5Tcreate(H5T_COMPOUND, sizeof(odd_row_t));
    H5Tinsert(row, "small", offsetof(odd_row_t, small), H5T_NATIVE_INT16);
    H5Tinsert(row, "single", offsetof(odd_row_t, single), H5T_NATIVE_FLOAT);
    H5Tinsert(row, "fixed", offsetof(odd_row_t, fixed), fixed);
    H5Tinsert(row, "byte", offsetof(odd_row_t, byte), H5T_NATIVE_UINT8);
    /* zeroed first: the padding between fields is written to the file too (valgrind) */
    odd_row_t rows[2];
    memset(rows, 0, sizeof rows);
    rows[0].small = -300;
    rows[0].single = 1.5f;
    memcpy(rows[0].fixed, "ab", 2);
    rows[0].byte = 255;
    rows[1].small = 2;
    rows[1].single = -0.5f;
    memcpy(rows[1].fixed, "abcdef", 6);
    memcpy(rows[1].fixed, "abcdef", 6);
    hid_t d = dataset_1d(f, "/odd", row, 2, H5P_DEFAULT);
    H5Dwrite(d, row, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows);
    H5Dclose(d);
    /* chunked and compressed (h5py's compression="gzip"): read as any other */
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk = 1;
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_deflate(dcpl, 4);
    d = dataset_1d(f, "/gzip", row, 2, dcpl);
    H5Dwrite(d, row, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows);
    H5Dclose(d);
    H5Pclose(dcpl);

    /* refused: enum and array attributes, an enum column, a nested compound, a 2-D table */
    hid_t en = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t fv = 0, tv = 1;
    H5Tenum_insert(en, "FALSE", &fv);
    H5Tenum_insert(en, "TRUE", &tv);
    scalar_attr(f, "flag", en, &tv);
    hsize_t three = 3;
    sp = H5Screate_simple(1, &three, NULL);
    a = H5Acreate2(f, "vector", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT);
    double vec[3] = {1, 2, 3};
    H5Awrite(a, H5T_NATIVE_DOUBLE, vec);
    H5Aclose(a);
    H5Sclose(sp);

    hid_t ecomp = H5Tcreate(H5T_COMPOUND, 2);
    H5Tinsert(ecomp, "ok", 0, H5T_NATIVE_INT8);
    H5Tinsert(ecomp, "flag", 1, en);
    int8_t erow[2] = {1, 1};
    d = dataset_1d(f, "/enum_table", ecomp, 1, H5P_DEFAULT);
    H5Dwrite(d, ecomp, H5S_ALL, H5S_ALL, H5P_DEFAULT, erow);
    H5Dclose(d);

    hid_t inner = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(inner, "x", 0, H5T_NATIVE_DOUBLE);
    hid_t outer = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(outer, "nested", 0, inner);
    d = dataset_1d(f, "/nested_table", outer, 0, H5P_DEFAULT);
    H5Dclose(d);

    hsize_t dims2[2] = {2, 2};
    sp = H5Screate_simple(2, dims2, NULL);
    d = H5Dcreate2(f, "/table_2d", ecomp, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
    sp = H5Screate_simple(2, dims2, NULL);
    d = H5Dcreate2(f, "/matrix", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    double m[4] = {1, 2, 3, 4};
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m);
    H5Dclose(d);
    H5Sclose(sp);
    hsize_t big[2] = {1 << 20, 1 << 10}; /* 4 GiB as float32; never written */
    sp = H5Screate_simple(2, big, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t bigchunk[2] = {1024, 1024};
    H5Pset_chunk(dcpl, 2, bigchunk);
    d = H5Dcreate2(f, "/huge", H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    d = dataset_1d(f, "/words", fixed, 1, H5P_DEFAULT);
    H5Dclose(d);

    /* data outside the file */
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(dcpl, "/etc/hostname", 0, 8);
    d = dataset_1d(f, "/external_data", H5T_NATIVE_INT8, 8, dcpl);
    H5Dclose(d);
    H5Pclose(dcpl);

    /* links moonlab never writes */
    H5Lcreate_soft("/g", f, "/soft", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_external("other.h5", "/x", f, "/external", H5P_DEFAULT, H5P_DEFAULT);

    H5Tclose(outer);
    H5Tclose(inner);
    H5Tclose(ecomp);
    H5Tclose(en);
    H5Tclose(row);
    H5Tclose(fixed);
    H5Gclose(g);
    H5Fclose(f);
}

static void test_types_and_layouts(void)
{
    char path[128];
    join(path, sizeof path, "odd.h5");
    write_odd_file(path);
    ml_rfile_t *f;
    CHECK(ml_rfile_open(&f, path) == ML_OK);
    if (!f)
        return;

    ml_rattr_t *a;
    int na;
    CHECK(ml_rfile_attrs(f, "/g", &a, &na) == ML_OK && na == 5);
    const ml_rattr_t *v = find_attr(a, na, "fixed");
    CHECK(v && v->v.type == ML_COL_STRING && strcmp(v->v.s, "abcdef") == 0);
    v = find_attr(a, na, "short");
    CHECK(v && v->v.type == ML_COL_INT64 && v->v.i == -7);
    v = find_attr(a, na, "single");
    CHECK(v && v->v.type == ML_COL_FLOAT64 && v->v.d == 0.25);
    v = find_attr(a, na, "bigendian");
    CHECK(v && v->v.type == ML_COL_FLOAT64 && v->v.d == -3.5);
    v = find_attr(a, na, "one_element");
    CHECK(v && v->v.type == ML_COL_INT64 && v->v.i == 60);
    ml_rfile_free_attrs(a, na);

    for (int k = 0; k < 2; k++) {
        ml_rtable_t t;
        const char *p = k == 0 ? "/odd" : "/gzip";
        CHECK(ml_rfile_table(f, p, &t) == ML_OK);
        CHECK(t.ncols == 4 && t.nrows == 2);
        if (t.ncols == 4 && t.nrows == 2) {
            CHECK(t.cols[0].type == ML_COL_INT64 && ((int64_t *)t.cols[0].data)[0] == -300);
            CHECK(t.cols[1].type == ML_COL_FLOAT64 && ((double *)t.cols[1].data)[1] == -0.5);
            CHECK(t.cols[2].type == ML_COL_STRING);
            CHECK(strcmp(((char **)t.cols[2].data)[0], "ab") == 0);
            CHECK(strcmp(((char **)t.cols[2].data)[1], "abcdef") == 0);
            CHECK(t.cols[3].type == ML_COL_INT64 && ((int64_t *)t.cols[3].data)[0] == 255);
        }
        ml_rfile_free_table(&t);
    }

    ml_tensor_t m;
    CHECK(ml_rfile_tensor(f, "/matrix", &m) == ML_OK && m.ndim == 2 && m.data[3] == 4.0f);
    ml_tensor_free(&m);

    /* refused, each with the file, the object and the reason */
    CHECK(ml_rfile_attrs(f, "/", &a, &na) == ML_EFORMAT && !a && na == 0);
    CHECK_ERRMSG_HAS(path);
    CHECK_ERRMSG_HAS(": /: attribute 'flag' has an unsupported type (enum)");
    ml_rtable_t t;
    CHECK(ml_rfile_table(f, "/enum_table", &t) == ML_EFORMAT && t.cols == NULL);
    CHECK_ERRMSG_HAS(": /enum_table: column 'flag' has an unsupported type (enum)");
    CHECK(ml_rfile_table(f, "/nested_table", &t) == ML_EFORMAT);
    CHECK_ERRMSG_HAS(": /nested_table: column 'nested' has an unsupported type (compound)");
    CHECK(ml_rfile_table(f, "/table_2d", &t) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("/table_2d: is not a one-dimensional table");
    CHECK(ml_rfile_table(f, "/matrix", &t) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("/matrix: is not a table");
    CHECK(ml_rfile_table(f, "/g", &t) == ML_EARG);
    CHECK_ERRMSG_HAS("/g: is not a dataset");
    CHECK(ml_rfile_table(f, "/absent", &t) == ML_EARG);
    CHECK_ERRMSG_HAS("/absent: no such object");
    CHECK(ml_rfile_table(f, "/external_data", &t) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("/external_data: is stored in 1 external file (not read)");
    CHECK(ml_rfile_tensor(f, "/external_data", &m) == ML_EFORMAT && m.data == NULL);
    CHECK(ml_rfile_tensor(f, "/words", &m) == ML_EFORMAT && m.data == NULL);
    CHECK_ERRMSG_HAS("/words: is not numeric");
    CHECK(ml_rfile_tensor(f, "/huge", &m) == ML_EFORMAT && m.data == NULL);
    CHECK_ERRMSG_HAS("/huge: is larger than the reader's limit");

    ml_rkind_t k;
    CHECK(ml_rfile_kind(f, "/soft", &k) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("/soft: is a soft link (moonlab writes none; not followed)");
    CHECK(ml_rfile_kind(f, "/external/x", &k) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("/external: is an external link");
    char **names;
    int64_t n;
    CHECK(ml_rfile_list(f, "/soft", &names, &n) == ML_EFORMAT && names == NULL && n == 0);
    /* listing a group with such links is fine: the links are not followed */
    CHECK(ml_rfile_list(f, "/", &names, &n) == ML_OK && n == 12);
    ml_rfile_free_names(names, n);

    /* the size limit: rows (16 bytes each in the file), columns, elements, lists */
    ml_rfile_set_limit(f, 24);
    CHECK(ml_rfile_table(f, "/odd", &t) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("/odd: 2 rows of 16 bytes are more than the reader's limit");
    ml_rfile_set_limit(f, 40);
    CHECK(ml_rfile_table(f, "/odd", &t) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("/odd: 2 rows of column 'fixed' are more than the reader's limit");
    ml_rfile_set_limit(f, 8);
    CHECK(ml_rfile_table(f, "/odd", &t) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("/odd: elements of 16 bytes (reader's limit 8)");
    CHECK(ml_rfile_tensor(f, "/matrix", &m) == ML_EFORMAT);
    CHECK(ml_rfile_list(f, "/", &names, &n) == ML_EFORMAT);
    ml_rfile_set_limit(f, 0); /* means 1 byte */
    CHECK(ml_rfile_attrs(f, "/g", &a, &na) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("attribute 'fixed' is a string of 6 bytes, more than the reader's limit");
    ml_rfile_close(f);
}

/* ---- errors opening and misuse ---- */

static void test_open_errors(void)
{
    char path[128], other[128];
    ml_rfile_t *f = (ml_rfile_t *)&f;
    join(path, sizeof path, "missing.h5");
    CHECK(ml_rfile_open(&f, path) == ML_EIO && f == NULL);
    CHECK_ERRMSG_HAS(path);
    CHECK_ERRMSG_HAS("No such file");
    CHECK(ml_rfile_open(&f, dir) == ML_EIO && f == NULL);
    CHECK_ERRMSG_HAS("is a directory");
    CHECK(ml_rfile_open(&f, "") == ML_EARG);
    CHECK(ml_rfile_open(NULL, path) == ML_EARG);

    join(path, sizeof path, "text.h5");
    spit(path, "epoch,loss\n1,0.5\n", 17);
    CHECK(ml_rfile_open(&f, path) == ML_EFORMAT && f == NULL);
    CHECK_ERRMSG_HAS(": not an HDF5 file");
    join(path, sizeof path, "empty.h5");
    spit(path, "", 0);
    CHECK(ml_rfile_open(&f, path) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("empty.h5: not an HDF5 file");

    /* truncated: the signature is there, the rest is not */
    join(other, sizeof other, "run.h5");
    size_t n = 0;
    unsigned char *img = slurp(other, &n);
    CHECK(img && n > 2000);
    join(path, sizeof path, "truncated.h5");
    spit(path, img, n / 2);
    CHECK(ml_rfile_open(&f, path) == ML_EFORMAT && f == NULL);
    CHECK_ERRMSG_HAS("truncated.h5: cannot open as HDF5: ");
    CHECK(ml_rfile_open_image(&f, img, n / 2, "half.h5") == ML_EFORMAT && f == NULL);
    CHECK_ERRMSG_HAS("half.h5: cannot open as HDF5");
    CHECK(ml_rfile_open_image(&f, img, 7, "tiny.h5") == ML_EFORMAT);
    CHECK_ERRMSG_HAS("tiny.h5: not an HDF5 file");
    CHECK(ml_rfile_open_image(&f, NULL, 0, "none.h5") == ML_EFORMAT);
    CHECK(ml_rfile_open_image(&f, NULL, 10, "null.h5") == ML_EARG);
    CHECK(ml_rfile_open_image(&f, img, n, "") == ML_EARG);

    /* global heap collections (where variable-length strings live) that would make HDF5 read
     * past them are refused before HDF5 sees the file: an object larger than its collection,
     * a collection larger than the file */
    unsigned char *gcol = img ? memmem(img, n, "GCOL\x01", 5) : NULL;
    CHECK(gcol != NULL);
    if (gcol) {
        size_t at = (size_t)(gcol - img);
        unsigned char saved[8];
        memcpy(saved, img + at + 16 + 8, 8); /* size of the first object */
        memset(img + at + 16 + 8 + 4, 0x7f, 4);
        CHECK(ml_rfile_open_image(&f, img, n, "heap.h5") == ML_EFORMAT && f == NULL);
        CHECK_ERRMSG_HAS("heap.h5: malformed global heap at byte ");
        CHECK_ERRMSG_HAS(": an object larger than its collection (not read: HDF5 would read past it)");
        join(path, sizeof path, "heap.h5");
        spit(path, img, n);
        CHECK(ml_rfile_open(&f, path) == ML_EFORMAT && f == NULL);
        CHECK_ERRMSG_HAS("an object larger than its collection");
        unlink(path);
        memcpy(img + at + 16 + 8, saved, 8);
        memset(img + at + 8 + 5, 0x7f, 3); /* the collection's own size */
        CHECK(ml_rfile_open_image(&f, img, n, "heap.h5") == ML_EFORMAT);
        CHECK_ERRMSG_HAS("collection larger than the file");
    }

    /* a user block before the superblock (h5py's userblock_size): the signature is found */
    join(path, sizeof path, "userblock.h5");
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_userblock(fcpl, 1024);
    hid_t hf = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    int64_t seven = 7;
    scalar_attr(hf, "seven", H5T_STD_I64LE, &seven);
    H5Fclose(hf);
    H5Pclose(fcpl);
    CHECK(ml_rfile_open(&f, path) == ML_OK);
    ml_rattr_t *ua;
    int nua;
    CHECK(f && ml_rfile_attrs(f, "/", &ua, &nua) == ML_OK && nua == 1 && ua[0].v.i == 7);
    ml_rfile_free_attrs(ua, nua);
    ml_rfile_close(f);
    free(img);

    /* misuse */
    join(path, sizeof path, "run.h5");
    CHECK(ml_rfile_open(&f, path) == ML_OK);
    ml_rkind_t k;
    CHECK(ml_rfile_kind(f, "runs", &k) == ML_EARG);
    CHECK_ERRMSG_HAS("object paths start with '/'");
    CHECK(ml_rfile_kind(f, NULL, &k) == ML_EARG);
    CHECK(ml_rfile_kind(NULL, "/", &k) == ML_EARG);
    CHECK(ml_rfile_kind(f, "/", NULL) == ML_EARG);
    char **names;
    int64_t nn;
    CHECK(ml_rfile_list(f, "/runs/a/history", &names, &nn) == ML_EARG && names == NULL);
    CHECK_ERRMSG_HAS("/runs/a/history: is not a group");
    CHECK(ml_rfile_list(f, "/runs", NULL, &nn) == ML_EARG);
    ml_rattr_t *a;
    int na;
    CHECK(ml_rfile_attrs(f, "/nothing", &a, &na) == ML_EARG);
    CHECK_ERRMSG_HAS("/nothing: no such object");
    ml_rtable_t t;
    CHECK(ml_rfile_table(f, "/runs/a/params/1.weight", &t) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("run.h5: /runs/a/params/1.weight: is not a table");
    ml_rfile_free_table(&t); /* a no-op on the zeroed table */
    ml_rfile_close(f);
}

/* ---- variable-length string attributes, checked before HDF5 reads them ---- */

/* A file whose root has `count` variable-length string attributes s0, s1, ... = "hello",
 * "hello1", ..., in object headers of the given format (H5F_LIBVER_EARLIEST: version 1, as
 * moonlab writes; H5F_LIBVER_LATEST: version 2). */
static void write_string_attrs(const char *path, int count, H5F_libver_t low)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, low, H5F_LIBVER_LATEST);
    hid_t hf = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    for (int i = 0; i < count; i++) {
        char name[16], value[16];
        snprintf(name, sizeof name, "s%d", i);
        snprintf(value, sizeof value, i ? "hello%d" : "hello", i);
        const char *v = value;
        scalar_attr(hf, name, st, &v);
    }
    H5Tclose(st);
    H5Fclose(hf);
    H5Pclose(fapl);
}

/* Reads the root's attributes from the image: the status, with every string checked. */
static int read_root_attrs(const unsigned char *img, size_t n, int count)
{
    ml_rfile_t *f;
    if (ml_rfile_open_image(&f, img, n, "strings.h5") != ML_OK)
        return -1;
    ml_rattr_t *a;
    int na;
    int rc = ml_rfile_attrs(f, "/", &a, &na);
    if (rc == ML_OK) {
        CHECK(na == count);
        for (int i = 0; i < na; i++) {
            char want[16];
            snprintf(want, sizeof want, i ? "hello%d" : "hello", atoi(a[i].name + 1));
            CHECK(a[i].v.type == ML_COL_STRING && strcmp(a[i].v.s, want) == 0);
        }
        ml_rfile_free_attrs(a, na);
    } else {
        CHECK(a == NULL && na == 0);
    }
    ml_rfile_close(f);
    return rc;
}

static void test_string_refs(void)
{
    char path[128];
    join(path, sizeof path, "strings.h5");
    write_string_attrs(path, 1, H5F_LIBVER_EARLIEST);
    size_t n = 0;
    unsigned char *img = slurp(path, &n);
    unsigned char *gcol = img ? memmem(img, n, "GCOL\x01", 5) : NULL;
    CHECK(gcol != NULL);
    if (!gcol) {
        free(img);
        return;
    }
    /* the stored value: length 5, the collection's address, object 1 */
    unsigned char ref[16] = {5, 0, 0, 0};
    uint64_t at = (uint64_t)(gcol - img);
    for (int i = 0; i < 8; i++)
        ref[4 + i] = (unsigned char)(at >> (8 * i));
    ref[12] = 1;
    unsigned char *v = memmem(img, n, ref, sizeof ref);
    CHECK(v != NULL);
    CHECK(read_root_attrs(img, n, 1) == ML_OK);
    if (v) {
        /* an object the collection does not have (HDF5 1.10 dereferences NULL) */
        v[12] = 9;
        CHECK(read_root_attrs(img, n, 1) == ML_EFORMAT);
        CHECK_ERRMSG_HAS("strings.h5: /: attribute 's0' not read: its value is object 9 of the "
                         "global heap at byte ");
        CHECK_ERRMSG_HAS(", which has no such object");
        memset(v + 12, 0xff, 4);
        CHECK(read_root_attrs(img, n, 1) == ML_EFORMAT);
        CHECK_ERRMSG_HAS("object 4294967295 of the global heap");
        v[12] = 0; /* index 0 is the collection's free space */
        memset(v + 13, 0, 3);
        CHECK(read_root_attrs(img, n, 1) == ML_EFORMAT);
        CHECK_ERRMSG_HAS("object 0 of the global heap");
        v[12] = 1;
        /* a length that is not the object's (HDF5 allocates the length, copies the object) */
        v[3] = 0x7f;
        CHECK(read_root_attrs(img, n, 1) == ML_EFORMAT);
        CHECK_ERRMSG_HAS("its value claims 2130706437 bytes, but its global heap object holds 5");
        v[3] = 0;
        v[0] = 2;
        CHECK(read_root_attrs(img, n, 1) == ML_EFORMAT);
        CHECK_ERRMSG_HAS("its value claims 2 bytes, but its global heap object holds 5");
        v[0] = 5;
        /* an address where no collection is */
        v[4] = (unsigned char)(v[4] + 8);
        CHECK(read_root_attrs(img, n, 1) == ML_EFORMAT);
        CHECK_ERRMSG_HAS("its value names a global heap at byte ");
        CHECK_ERRMSG_HAS(", where there is none");
        v[4] = (unsigned char)(v[4] - 8);
        CHECK(read_root_attrs(img, n, 1) == ML_OK);
        /* characters that are not one byte (HDF5 would allocate length times their size): the
         * version 1 attribute message has the name padded to 8 bytes, then the string type
         * (class 9, its 8-byte head), then the character type, whose size is at byte 4 */
        unsigned char *name = memmem(img, n, "s0\0\0\0\0\0\0", 8);
        CHECK(name && (name[8] & 0x0f) == 9 && name[8 + 8 + 4] == 1);
        if (name && (name[8] & 0x0f) == 9) {
            name[8 + 8 + 4] = 2;
            CHECK(read_root_attrs(img, n, 1) == ML_EFORMAT);
            CHECK_ERRMSG_HAS("attribute 's0' not read: a string whose characters are 2 bytes "
                             "each, not 1");
            name[8 + 8 + 4] = 1;
        }
        /* from disk as from memory */
        v[12] = 9;
        spit(path, img, n);
        ml_rfile_t *f;
        CHECK(ml_rfile_open(&f, path) == ML_OK);
        ml_rattr_t *a;
        int na;
        CHECK(f && ml_rfile_attrs(f, "/", &a, &na) == ML_EFORMAT && a == NULL);
        CHECK_ERRMSG_HAS("strings.h5: /: attribute 's0' not read: its value is object 9");
        ml_rfile_close(f);
    }
    free(img);

    /* a table's string column with characters of 2 bytes (HDF5 would allocate the length
     * times that for each string before reading it): the string type (class 9, its 8-byte
     * head, size 16) is followed by the character type, whose size is at byte 4 */
    {
        hid_t hf = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, H5T_VARIABLE);
        hid_t row = H5Tcreate(H5T_COMPOUND, sizeof(char *));
        H5Tinsert(row, "s", 0, st);
        const char *rows[2] = {"ab", "cde"};
        hid_t d = dataset_1d(hf, "/t", row, 2, H5P_DEFAULT);
        H5Dwrite(d, row, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows);
        H5Dclose(d);
        H5Tclose(row);
        H5Tclose(st);
        H5Fclose(hf);
    }
    img = slurp(path, &n);
    static const unsigned char vstr[] = {0x10, 0, 0, 0, 0x10}; /* size 16, then class 0 v1 */
    unsigned char *ty = img ? memmem(img, n, vstr, sizeof vstr) : NULL;
    CHECK(ty && (ty[-4] & 0x0f) == 9 && ty[8] == 1);
    ml_rfile_t *f;
    ml_rtable_t tab;
    CHECK(img && ml_rfile_open_image(&f, img, n, "table.h5") == ML_OK);
    CHECK(f && ml_rfile_table(f, "/t", &tab) == ML_OK && tab.nrows == 2 &&
          strcmp(((char **)tab.cols[0].data)[1], "cde") == 0);
    ml_rfile_free_table(&tab);
    ml_rfile_close(f);
    if (ty && (ty[-4] & 0x0f) == 9) {
        ty[8] = 2;
        CHECK(ml_rfile_open_image(&f, img, n, "table.h5") == ML_OK);
        CHECK(f && ml_rfile_table(f, "/t", &tab) == ML_EFORMAT && tab.cols == NULL);
        CHECK_ERRMSG_HAS("table.h5: /t: column 's' not read: strings whose characters are 2 "
                         "bytes each, not 1");
        ml_rfile_close(f);
    }
    free(img);

    /* many attributes: version 1 headers go on in continuation blocks, all read */
    write_string_attrs(path, 40, H5F_LIBVER_EARLIEST);
    img = slurp(path, &n);
    CHECK(img && read_root_attrs(img, n, 40) == ML_OK);
    free(img);
    /* version 2 headers (h5py's libver="latest"): a few attributes stay in the header */
    write_string_attrs(path, 3, H5F_LIBVER_LATEST);
    img = slurp(path, &n);
    CHECK(img && memmem(img, n, "OHDR", 4) && read_root_attrs(img, n, 3) == ML_OK);
    free(img);
    /* more go to dense storage (a fractal heap), which is not checked, so not read */
    write_string_attrs(path, 12, H5F_LIBVER_LATEST);
    img = slurp(path, &n);
    CHECK(img && read_root_attrs(img, n, 12) == ML_EFORMAT);
    CHECK_ERRMSG_HAS("not read: its value is not stored in the object header");
    free(img);
    unlink(path);
}

/* HDF5 must report through our messages only: nothing on stderr while errors happen. */
static void run_quietly(void (*test)(void))
{
    char log[128];
    join(log, sizeof log, "stderr.log");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(log, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0) {
        CHECK(0);
        return;
    }
    dup2(fd, 2);
    close(fd);
    unlink(log);
    test();
    fflush(stderr);
    off_t size = lseek(2, 0, SEEK_END);
    if (size > 0) {
        char buf[4096];
        ssize_t got = pread(2, buf, sizeof buf - 1, 0);
        buf[got > 0 ? got : 0] = '\0';
        dup2(saved, 2);
        fprintf(stderr, "%s", buf);
    }
    dup2(saved, 2);
    close(saved);
    CHECK_MSG(size == 0, "%lld bytes on stderr", (long long)size);
}

static void remove_files(void)
{
    static const char *const names[] = {"run.h5", "odd.h5", "text.h5", "empty.h5",
                                        "truncated.h5", "userblock.h5"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        join(path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ml_rfile_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    run_quietly(test_types_and_layouts);
    run_quietly(test_open_errors);
    run_quietly(test_string_refs);
    remove_files();
    return check_report("test_rfile");
}
