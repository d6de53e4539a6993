/* HDF5 result files: written under a temporary name, renamed into place on commit, and read
 * back here through the HDF5 C API (the h5py/pandas view is checked in tests/interop). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, dup */

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The engine keeps HDF5's include directory private; Debian also installs it under
 * <hdf5/serial/>, which the default include path reaches. */
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
#include "moonlab/tensor.h"

static char dir[64];

static void join(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries in the test directory, and how many look like our temporary files. */
static int count_entries(int *tmp_files)
{
    int n = 0;
    *tmp_files = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp-"))
            (*tmp_files)++;
    }
    closedir(d);
    return n;
}

#define CHECK_ERRMSG_HAS(s) CHECK_MSG(strstr(ml_errmsg(), s) != NULL, "message '%s' lacks '%s'", \
                                      ml_errmsg(), s)

/* ---- reading back ---- */

static char *read_string_attr(hid_t file, const char *obj, const char *name, int *vlen_utf8)
{
    char *v = NULL;
    *vlen_utf8 = 0;
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        return NULL;
    hid_t ft = H5Aget_type(a);
    *vlen_utf8 = H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0 &&
                 H5Tget_cset(ft) == H5T_CSET_UTF8;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    char *tmp = NULL;
    if (*vlen_utf8 && H5Aread(a, mt, &tmp) >= 0 && tmp) {
        v = strdup(tmp);
        H5free_memory(tmp);
    }
    H5Tclose(mt);
    H5Tclose(ft);
    H5Aclose(a);
    return v;
}

static int read_num_attr(hid_t file, const char *obj, const char *name, hid_t want_ftype,
                         hid_t mtype, void *out)
{
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        return -1;
    hid_t ft = H5Aget_type(a);
    int ok = H5Tequal(ft, want_ftype) > 0 && H5Aread(a, mtype, out) >= 0;
    H5Tclose(ft);
    H5Aclose(a);
    return ok ? 0 : -1;
}

typedef struct { int64_t epoch; double loss; char *split; } history_row_t;

static void check_table(hid_t file)
{
    hid_t d = H5Dopen2(file, "/runs/normal/history", H5P_DEFAULT);
    CHECK(d >= 0);
    if (d < 0)
        return;
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t n = 0;
    CHECK(H5Sget_simple_extent_ndims(sp) == 1);
    H5Sget_simple_extent_dims(sp, &n, NULL);
    CHECK(n == 3);
    CHECK(H5Tget_class(ft) == H5T_COMPOUND);
    CHECK(H5Tget_nmembers(ft) == 3);
    static const char *names[3] = {"epoch", "loss", "split"};
    for (unsigned i = 0; i < 3 && H5Tget_nmembers(ft) == 3; i++) {
        char *nm = H5Tget_member_name(ft, i);
        CHECK_MSG(nm && strcmp(nm, names[i]) == 0, "field %u is '%s'", i, nm ? nm : "?");
        H5free_memory(nm);
        hid_t mt = H5Tget_member_type(ft, i);
        if (i == 0)
            CHECK(H5Tequal(mt, H5T_STD_I64LE) > 0);
        else if (i == 1)
            CHECK(H5Tequal(mt, H5T_IEEE_F64LE) > 0);
        else
            CHECK(H5Tis_variable_str(mt) > 0 && H5Tget_cset(mt) == H5T_CSET_UTF8);
        H5Tclose(mt);
    }

    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, H5T_VARIABLE);
    H5Tset_cset(str, H5T_CSET_UTF8);
    hid_t mem = H5Tcreate(H5T_COMPOUND, sizeof(history_row_t));
    H5Tinsert(mem, "epoch", offsetof(history_row_t, epoch), H5T_NATIVE_INT64);
    H5Tinsert(mem, "loss", offsetof(history_row_t, loss), H5T_NATIVE_DOUBLE);
    H5Tinsert(mem, "split", offsetof(history_row_t, split), str);
    history_row_t rows[3];
    memset(rows, 0, sizeof rows);
    CHECK(H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0);
    static const char *splits[3] = {"train", "valid", "t\xc3\xabst"};
    for (int i = 0; i < 3; i++) {
        CHECK(rows[i].epoch == (int64_t)(i + 1) * 1000000000000LL);
        CHECK(rows[i].loss == 0.5 / (1 << i));
        CHECK_MSG(rows[i].split && strcmp(rows[i].split, splits[i]) == 0, "row %d split '%s'",
                  i, rows[i].split ? rows[i].split : "(null)");
    }
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mem, sp, H5P_DEFAULT, rows);
#else
    H5Dvlen_reclaim(mem, sp, H5P_DEFAULT, rows);
#endif
    H5Tclose(mem);
    H5Tclose(str);
    H5Sclose(sp);
    H5Tclose(ft);
    H5Dclose(d);

    /* The zero-row table keeps its columns. */
    d = H5Dopen2(file, "/runs/empty", H5P_DEFAULT);
    CHECK(d >= 0);
    if (d >= 0) {
        sp = H5Dget_space(d);
        ft = H5Dget_type(d);
        H5Sget_simple_extent_dims(sp, &n, NULL);
        CHECK(n == 0);
        CHECK(H5Tget_nmembers(ft) == 3);
        H5Tclose(ft);
        H5Sclose(sp);
        H5Dclose(d);
    }
}

/* Reads a float32 dataset; returns the number of elements (-1 on failure). */
static int64_t read_floats(hid_t file, const char *path, float *out, int64_t cap, int *ndim,
                           hsize_t dims[4])
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    int64_t n = -1;
    *ndim = H5Sget_simple_extent_ndims(sp);
    if (H5Tequal(ft, H5T_IEEE_F32LE) > 0 && *ndim >= 0 && *ndim <= 4) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        n = H5Sget_simple_extent_npoints(sp);
        if (n > cap || (n > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                         out) < 0))
            n = -1;
    }
    H5Sclose(sp);
    H5Tclose(ft);
    H5Dclose(d);
    return n;
}

static void check_tensors(hid_t file)
{
    float v[16];
    hsize_t dims[4];
    int ndim;
    /* The transposed (3,2) view of [[0,1,2],[3,4,5]], in the view's row-major order. */
    int64_t n = read_floats(file, "/runs/normal/weights", v, 16, &ndim, dims);
    CHECK(n == 6 && ndim == 2 && dims[0] == 3 && dims[1] == 2);
    static const float want_t[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6 && n == 6; i++)
        CHECK_CLOSE(v[i], want_t[i], 0, 0);

    /* Every second column of row 1: elements 3 and 5. */
    n = read_floats(file, "/runs/normal/strided", v, 16, &ndim, dims);
    CHECK(n == 2 && ndim == 1 && dims[0] == 2);
    if (n == 2) {
        CHECK_CLOSE(v[0], 3, 0, 0);
        CHECK_CLOSE(v[1], 5, 0, 0);
    }

    n = read_floats(file, "/runs/normal/base", v, 16, &ndim, dims);
    CHECK(n == 6 && ndim == 2 && dims[0] == 2 && dims[1] == 3);
    for (int i = 0; i < 6 && n == 6; i++)
        CHECK_CLOSE(v[i], i, 0, 0);

    hid_t d = H5Dopen2(file, "/scalar", H5P_DEFAULT);
    CHECK(d >= 0);
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        CHECK(H5Sget_simple_extent_type(sp) == H5S_SCALAR);
        float x = 0;
        CHECK(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &x) >= 0);
        CHECK_CLOSE(x, 2.5f, 0, 0);
        H5Sclose(sp);
        H5Dclose(d);
    }

    n = read_floats(file, "/empty_tensor", v, 16, &ndim, dims);
    CHECK(n == 0 && ndim == 2 && dims[0] == 0 && dims[1] == 4);
}

static void check_attrs(hid_t file)
{
    int utf8;
    char *s = read_string_attr(file, "/", "script", &utf8);
    CHECK(utf8);
    CHECK_MSG(s && strcmp(s, "experiments/caf\xc3\xa9.lua") == 0, "script = '%s'", s ? s : "?");
    free(s);

    /* Replaced: an int64 first, then a string of the same name. */
    s = read_string_attr(file, "/runs/normal", "note", &utf8);
    CHECK(utf8);
    CHECK(s && strcmp(s, "second") == 0);
    free(s);

    s = read_string_attr(file, "/runs/normal/history", "kind", &utf8);
    CHECK(s && strcmp(s, "history") == 0);
    free(s);

    /* The object did not exist: it was created as a group, parents included. */
    s = read_string_attr(file, "/meta/deep", "empty", &utf8);
    CHECK(s && strcmp(s, "") == 0);
    free(s);
    hid_t o = H5Oopen(file, "/meta/deep", H5P_DEFAULT);
    CHECK(o >= 0 && H5Iget_type(o) == H5I_GROUP);
    if (o >= 0)
        H5Oclose(o);

    double lr = 0;
    CHECK(read_num_attr(file, "/runs/normal", "lr", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &lr) == 0);
    CHECK(lr == 0.001);
    int64_t seed = 0;
    CHECK(read_num_attr(file, "/runs/normal", "seed", H5T_STD_I64LE, H5T_NATIVE_INT64, &seed) ==
          0);
    CHECK(seed == -(INT64_C(1) << 40));
    CHECK(read_num_attr(file, "/", "version", H5T_STD_I64LE, H5T_NATIVE_INT64, &seed) == 0);
    CHECK(seed == 2);

    /* Groups made by ml_results_group, parents included. */
    CHECK(H5Lexists(file, "/runs", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(file, "/runs/normal", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(file, "/runs/other", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(file, "/runs/other/a/b", H5P_DEFAULT) > 0);
}

/* ---- writing ---- */

static void test_write_and_read_back(void)
{
    char final[128], tmp[128];
    join(final, sizeof final, "out.h5");
    snprintf(tmp, sizeof tmp, "%s/.out.h5.tmp-%ld", dir, (long)getpid());

    ml_results_t *r = NULL;
    CHECK(ml_results_create(&r, final) == ML_OK);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK(!exists(final));
    CHECK(exists(tmp));

    CHECK(ml_results_group(r, "/runs/normal") == ML_OK);
    CHECK(ml_results_group(r, "/runs/normal") == ML_OK); /* existing group: fine */
    CHECK(ml_results_group(r, "/runs/other/a/b") == ML_OK);
    CHECK(ml_results_group(r, "/") == ML_OK);
    CHECK(ml_results_attr_string(r, "/", "script", "experiments/caf\xc3\xa9.lua") == ML_OK);
    CHECK(ml_results_attr_int64(r, "/", "version", 2) == ML_OK);
    CHECK(ml_results_attr_int64(r, "/runs/normal", "note", 7) == ML_OK);
    CHECK(ml_results_attr_string(r, "/runs/normal", "note", "first") == ML_OK);
    CHECK(ml_results_attr_string(r, "/runs/normal", "note", "second") == ML_OK);
    CHECK(ml_results_attr_double(r, "/runs/normal", "lr", 0.5) == ML_OK);
    CHECK(ml_results_attr_double(r, "/runs/normal", "lr", 0.001) == ML_OK);
    CHECK(ml_results_attr_int64(r, "/runs/normal", "seed", -(INT64_C(1) << 40)) == ML_OK);
    CHECK(ml_results_attr_string(r, "/meta/deep", "empty", "") == ML_OK);

    int64_t epoch[3] = {1000000000000LL, 2000000000000LL, 3000000000000LL};
    double loss[3] = {0.5, 0.25, 0.125};
    const char *split[3] = {"train", "valid", "t\xc3\xabst"};
    ml_column_t cols[3] = {{"epoch", ML_COL_INT64, epoch},
                           {"loss", ML_COL_FLOAT64, loss},
                           {"split", ML_COL_STRING, split}};
    CHECK(ml_results_table(r, "/runs/normal/history", 3, cols, 3) == ML_OK);
    CHECK(ml_results_attr_string(r, "/runs/normal/history", "kind", "history") == ML_OK);
    ml_column_t none[3] = {{"epoch", ML_COL_INT64, NULL},
                           {"loss", ML_COL_FLOAT64, NULL},
                           {"split", ML_COL_STRING, NULL}};
    CHECK(ml_results_table(r, "/runs/empty", 3, none, 0) == ML_OK);

    ml_tensor_t base, tr, row1, strided, scalar, empty;
    int64_t shape[2] = {2, 3};
    CHECK(ml_tensor_new(&base, 2, shape) == ML_OK);
    for (int i = 0; i < 6; i++)
        base.data[i] = (float)i;
    CHECK(ml_tensor_transpose(&tr, &base, 0, 1) == ML_OK);
    CHECK(!ml_tensor_is_contiguous(&tr));
    CHECK(ml_results_tensor(r, "/runs/normal/weights", &tr) == ML_OK);
    CHECK(ml_tensor_rows(&row1, &base, 1, 1) == ML_OK);
    CHECK(ml_tensor_slice(&strided, &row1, 1, 0, 3, 2) == ML_OK);
    strided.ndim = 1; /* drop the size-1 row dimension: shape (2,), stride 2 */
    strided.shape[0] = 2;
    strided.stride[0] = 2;
    CHECK(ml_results_tensor(r, "/runs/normal/strided", &strided) == ML_OK);
    CHECK(ml_results_tensor(r, "/runs/normal/base", &base) == ML_OK);
    CHECK(ml_tensor_new(&scalar, 0, NULL) == ML_OK);
    scalar.data[0] = 2.5f;
    CHECK(ml_results_tensor(r, "/scalar", &scalar) == ML_OK);
    int64_t eshape[2] = {0, 4};
    CHECK(ml_tensor_new(&empty, 2, eshape) == ML_OK);
    CHECK(ml_results_tensor(r, "/empty_tensor", &empty) == ML_OK);
    ml_tensor_free(&base);
    ml_tensor_free(&scalar);
    ml_tensor_free(&empty);

    CHECK(!exists(final)); /* nothing at the final path until commit */
    CHECK(ml_results_commit(r) == ML_OK);
    CHECK(exists(final));
    CHECK(!exists(tmp));
    int tmps, n = count_entries(&tmps);
    CHECK(n == 1 && tmps == 0);

    hid_t f = H5Fopen(final, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    if (f < 0)
        return;
    check_attrs(f);
    check_table(f);
    check_tensors(f);
    H5Fclose(f);

    /* Commit replaces an existing result atomically. */
    CHECK(ml_results_create(&r, final) == ML_OK);
    CHECK(ml_results_attr_int64(r, "/", "version", 3) == ML_OK);
    CHECK(ml_results_commit(r) == ML_OK);
    f = H5Fopen(final, H5F_ACC_RDONLY, H5P_DEFAULT);
    int64_t version = 0;
    CHECK(read_num_attr(f, "/", "version", H5T_STD_I64LE, H5T_NATIVE_INT64, &version) == 0);
    CHECK(version == 3);
    CHECK(H5Lexists(f, "/runs", H5P_DEFAULT) == 0);
    H5Fclose(f);
    unlink(final);
}

/* A file name without a directory part goes to the working directory. */
static void test_relative_path(void)
{
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || chdir(dir) != 0) {
        CHECK(0);
        return;
    }
    ml_results_t *r = NULL;
    CHECK(ml_results_create(&r, "rel.h5") == ML_OK);
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".rel.h5.tmp-%ld", (long)getpid());
    CHECK(exists(tmp));
    CHECK(ml_results_commit(r) == ML_OK);
    CHECK(exists("rel.h5") && !exists(tmp));
    unlink("rel.h5");
    CHECK(chdir(cwd) == 0);
}

/* ---- failures ---- */

static void test_create_errors(void)
{
    char path[160], plain[128];
    ml_results_t *r = (ml_results_t *)&r; /* must be reset to NULL on failure */

    join(path, sizeof path, "missing/x.h5");
    CHECK(ml_results_create(&r, path) == ML_EIO);
    CHECK(r == NULL);
    CHECK_ERRMSG_HAS(path);
    CHECK_ERRMSG_HAS("does not exist");

    /* A directory part that is a regular file (works as root too, unlike chmod). */
    join(plain, sizeof plain, "plain");
    FILE *fp = fopen(plain, "w");
    CHECK(fp != NULL);
    if (fp)
        fclose(fp);
    snprintf(path, sizeof path, "%s/x.h5", plain);
    CHECK(ml_results_create(&r, path) == ML_EIO);
    CHECK(r == NULL);
    CHECK_ERRMSG_HAS(path);
    CHECK_ERRMSG_HAS("not a directory");
    unlink(plain);

    CHECK(ml_results_create(&r, "/etc/hostname/x.h5") == ML_EIO);
    CHECK_ERRMSG_HAS("/etc/hostname/x.h5");

    /* Permissions stop only non-root users. */
    if (geteuid() != 0) {
        char ro[128];
        join(ro, sizeof ro, "ro");
        CHECK(mkdir(ro, 0500) == 0);
        snprintf(path, sizeof path, "%s/x.h5", ro);
        CHECK(ml_results_create(&r, path) == ML_EIO);
        CHECK_ERRMSG_HAS(path);
        CHECK_ERRMSG_HAS("not writable");
        rmdir(ro);
    }

    /* The final path is a directory: refused before anything is written. */
    join(path, sizeof path, "isdir.h5");
    CHECK(mkdir(path, 0700) == 0);
    CHECK(ml_results_create(&r, path) == ML_EIO);
    CHECK_ERRMSG_HAS(path);
    rmdir(path);

    join(path, sizeof path, "");
    CHECK(ml_results_create(&r, path) == ML_EARG);
    CHECK(ml_results_create(&r, "") == ML_EARG);
    CHECK(ml_results_create(&r, NULL) == ML_EARG);
    CHECK(ml_results_create(NULL, "x.h5") == ML_EARG);

    int tmps;
    CHECK(count_entries(&tmps) == 0);
}

static void test_write_errors(void)
{
    char final[128];
    join(final, sizeof final, "bad.h5");
    ml_results_t *r = NULL;
    CHECK(ml_results_create(&r, final) == ML_OK);
    if (!r)
        return;

    ml_tensor_t t;
    int64_t shape[1] = {3};
    CHECK(ml_tensor_new(&t, 1, shape) == ML_OK);
    CHECK(ml_results_tensor(r, "/data", &t) == ML_OK);

    /* Datasets are never overwritten. */
    CHECK(ml_results_tensor(r, "/data", &t) == ML_EARG);
    CHECK_ERRMSG_HAS("'/data' already exists in");
    CHECK_ERRMSG_HAS(final);
    /* A group where a dataset is. */
    CHECK(ml_results_group(r, "/data") == ML_EARG);
    CHECK_ERRMSG_HAS("not a group");
    /* Below a dataset. */
    CHECK(ml_results_group(r, "/data/x") == ML_EARG);
    CHECK_ERRMSG_HAS("'/data' is not a group");
    CHECK(ml_results_attr_int64(r, "/data/x/y", "a", 1) == ML_EARG);
    CHECK(ml_results_tensor(r, "//data//z", &t) == ML_EARG);
    CHECK_ERRMSG_HAS("'//data' is not a group");
    /* A failure inside HDF5 reaches the message with HDF5's own reason: a second writer for
     * the same path in this process would truncate the first one's temporary file. */
    ml_results_t *r2 = (ml_results_t *)&r2;
    CHECK(ml_results_create(&r2, final) == ML_EIO);
    CHECK(r2 == NULL);
    CHECK_ERRMSG_HAS(final);
    CHECK_ERRMSG_HAS("already open");
    /* An attribute on a dataset is fine. */
    CHECK(ml_results_attr_int64(r, "/data", "a", 1) == ML_OK);

    CHECK(ml_results_attr_string(r, "/", "s", NULL) == ML_EARG);
    CHECK(ml_results_attr_string(r, "/", "", "v") == ML_EARG);
    CHECK(ml_results_attr_double(r, "", "x", 1.0) == ML_EARG);
    CHECK(ml_results_attr_double(r, NULL, "x", 1.0) == ML_EARG);
    CHECK(ml_results_group(NULL, "/g") == ML_EARG);

    int64_t a[2] = {1, 2};
    const char *s[2] = {"x", NULL};
    ml_column_t dup[2] = {{"a", ML_COL_INT64, a}, {"a", ML_COL_INT64, a}};
    CHECK(ml_results_table(r, "/t", 2, dup, 2) == ML_EARG);
    CHECK_ERRMSG_HAS("both named 'a'");
    ml_column_t nulls[1] = {{"s", ML_COL_STRING, s}};
    CHECK(ml_results_table(r, "/t", 1, nulls, 2) == ML_EARG);
    CHECK_ERRMSG_HAS("row 2 is NULL");
    CHECK(ml_results_table(r, "/t", 0, dup, 2) == ML_EARG);
    CHECK(ml_results_table(r, "/t", 1, dup, -1) == ML_EARG);
    ml_column_t notype[1] = {{"a", (ml_col_type_t)9, a}};
    CHECK(ml_results_table(r, "/t", 1, notype, 2) == ML_EARG);
    ml_column_t nodata[1] = {{"a", ML_COL_INT64, NULL}};
    CHECK(ml_results_table(r, "/t", 1, nodata, 2) == ML_EARG);
    CHECK(ml_results_table(r, "/data", 1, dup, 2) == ML_EARG);

    ml_tensor_t bad = t;
    bad.ndim = 5;
    CHECK(ml_results_tensor(r, "/bad", &bad) == ML_EARG);
    bad = t;
    bad.shape[0] = -1;
    CHECK(ml_results_tensor(r, "/bad", &bad) == ML_EARG);
    bad = t;
    bad.data = NULL;
    CHECK(ml_results_tensor(r, "/bad", &bad) == ML_EARG);
    CHECK(ml_results_tensor(r, "/bad", NULL) == ML_EARG);
    ml_tensor_free(&t);

    /* Errors leave the file usable: it still commits, with what was written. */
    CHECK(ml_results_commit(r) == ML_OK);
    hid_t f = H5Fopen(final, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    CHECK(H5Lexists(f, "/data", H5P_DEFAULT) > 0);
    CHECK(H5Lexists(f, "/t", H5P_DEFAULT) == 0);
    CHECK(H5Lexists(f, "/bad", H5P_DEFAULT) == 0);
    H5Fclose(f);
    unlink(final);
    CHECK(ml_results_commit(NULL) == ML_EARG);
}

/* rename fails (the final path became a non-empty directory after create): the error names
 * the final path and no temporary file is left. */
static void test_commit_failure(void)
{
    char final[128], inside[160];
    join(final, sizeof final, "late.h5");
    ml_results_t *r = NULL;
    CHECK(ml_results_create(&r, final) == ML_OK);
    if (!r)
        return;
    CHECK(ml_results_attr_int64(r, "/", "x", 1) == ML_OK);
    CHECK(mkdir(final, 0700) == 0);
    snprintf(inside, sizeof inside, "%s/keep", final);
    FILE *fp = fopen(inside, "w");
    if (fp)
        fclose(fp);
    CHECK(ml_results_commit(r) == ML_EIO);
    CHECK_ERRMSG_HAS(final);
    CHECK(exists(inside));
    int tmps;
    CHECK(count_entries(&tmps) == 1 && tmps == 0);
    unlink(inside);
    rmdir(final);
}

static void test_abort(void)
{
    char final[128];
    join(final, sizeof final, "aborted.h5");
    ml_results_t *r = NULL;
    CHECK(ml_results_create(&r, final) == ML_OK);
    CHECK(ml_results_group(r, "/a/b") == ML_OK);
    int64_t a[2] = {1, 2};
    ml_column_t cols[1] = {{"a", ML_COL_INT64, a}};
    CHECK(ml_results_table(r, "/a/b/t", 1, cols, 2) == ML_OK);
    ml_results_abort(r);
    ml_results_abort(NULL);
    int tmps;
    CHECK(count_entries(&tmps) == 0);
    CHECK(!exists(final));
}

/* ml_results_copy: a group with what is under it is copied; a source that is missing, not an
 * HDF5 file (rfile's checks run before libhdf5 sees it) or without the object is refused with a
 * message naming it, and the writer stays usable. */
static void test_copy(void)
{
    char src[128], dst[128], bad[128], missing[128];
    join(src, sizeof src, "src.h5");
    join(dst, sizeof dst, "dst.h5");
    join(bad, sizeof bad, "bad-source.h5");
    join(missing, sizeof missing, "missing.h5");
    ml_results_t *r = NULL;
    CHECK(ml_results_create(&r, src) == ML_OK);
    if (!r)
        return;
    int64_t epoch[2] = {1, 2};
    ml_column_t cols[1] = {{"epoch", ML_COL_INT64, epoch}};
    CHECK(ml_results_attr_string(r, "/runs/trial", "status", "done") == ML_OK);
    CHECK(ml_results_table(r, "/runs/trial/history", 1, cols, 2) == ML_OK);
    CHECK(ml_results_commit(r) == ML_OK);
    FILE *fp = fopen(bad, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs("not an HDF5 file, though named like one\n", fp);
        fclose(fp);
    }

    CHECK(ml_results_create(&r, dst) == ML_OK);
    if (!r)
        return;
    CHECK(ml_results_copy(r, "/study/trials/a", src, "/runs/trial") == ML_OK);
    CHECK(ml_results_copy(r, "/study/trials/a", src, "/runs/trial") == ML_EARG);
    CHECK_ERRMSG_HAS("already exists");
    CHECK(ml_results_copy(r, "/study/trials/b", bad, "/runs/trial") == ML_EFORMAT);
    CHECK_ERRMSG_HAS(bad);
    CHECK_ERRMSG_HAS("not an HDF5 file");
    CHECK(ml_results_copy(r, "/study/trials/c", missing, "/runs/trial") == ML_EIO);
    CHECK_ERRMSG_HAS(missing);
    CHECK(ml_results_copy(r, "/study/trials/d", src, "/runs/other") == ML_EFORMAT);
    CHECK_ERRMSG_HAS(src);
    CHECK_ERRMSG_HAS("has no object '/runs/other'");
    CHECK(ml_results_commit(r) == ML_OK);

    hid_t f = H5Fopen(dst, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    if (f >= 0) {
        CHECK(H5Lexists(f, "/study/trials/a/history", H5P_DEFAULT) > 0);
        CHECK(H5Aexists_by_name(f, "/study/trials/a", "status", H5P_DEFAULT) > 0);
        CHECK(H5Lexists(f, "/study/trials/b", H5P_DEFAULT) == 0);
        H5Fclose(f);
    }
    unlink(src);
    unlink(dst);
    unlink(bad);
    int tmps;
    CHECK(count_entries(&tmps) == 0);
}

static void test_version(void)
{
    unsigned maj, min, rel, m2, n2, r2;
    CHECK(H5get_libversion(&maj, &min, &rel) >= 0);
    const char *v = ml_results_hdf5_version();
    CHECK(sscanf(v, "%u.%u.%u", &m2, &n2, &r2) == 3);
    CHECK(m2 == maj && n2 == min && r2 == rel);
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
    /* Unlinked at once (the descriptor keeps it) so that it is not counted as an entry. */
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

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ml_results_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_write_and_read_back();
    test_relative_path();
    run_quietly(test_create_errors);
    run_quietly(test_write_errors);
    run_quietly(test_commit_failure);
    run_quietly(test_copy);
    test_abort();
    test_version();
    rmdir(dir);
    return check_report("test_results");
}
