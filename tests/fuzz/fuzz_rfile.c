/* libFuzzer target: the result-file reader (moonlab/rfile.h, what `moonlab show` and `moonlab
 * plot` read through) on arbitrary bytes as an in-memory HDF5 file. It walks the file as show
 * does — every group's members, every object's attributes, every dataset as a table and as a
 * tensor — within a budget of objects and depth (hard links can make cycles). A success must
 * give well-formed results (named columns, non-NULL strings, a tensor of 0..4 dimensions with
 * data); a failure must leave its outputs empty with one message that starts with the file's
 * name. The reader's size limit is lowered to 1 MiB so that no input can ask for much memory
 * through it. Built with libFuzzer under MOONLAB_FUZZ (tests/fuzz/run.sh), and without it as
 * replay_rfile, which feeds the corpus and regressions/ through the same function.
 *
 * libhdf5 itself is not instrumented (Debian's build): libFuzzer sees the coverage of our
 * reader only, and ASan catches the library's memory errors only where they pass through
 * intercepted calls (memcpy, memset, strlen, ...). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/rfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* libhdf5 leaks on some of its error paths; those leaks are its own (an allocation by our code
 * that leaks has our frames and is still reported). */
const char *__lsan_default_suppressions(void)
{
    return "leak:libhdf5_serial.so\n";
}

#define NAME "fuzz.h5"
#define MAX_OBJECTS 64
#define MAX_DEPTH 6
#define MAX_MEMBERS 32

static void check_failed(void)
{
    if (strncmp(ml_errmsg(), NAME ": ", sizeof NAME + 1) != 0)
        abort();
}

static void visit(ml_rfile_t *f, const char *path, int depth, int *budget)
{
    if (--*budget < 0)
        return;
    ml_rkind_t kind;
    if (ml_rfile_kind(f, path, &kind) != ML_OK) {
        check_failed();
        return;
    }
    if (kind == ML_RKIND_NONE)
        return; /* a damaged name index can list a member that a lookup does not find */

    ml_rattr_t *attrs;
    int nattrs;
    if (ml_rfile_attrs(f, path, &attrs, &nattrs) == ML_OK) {
        if (kind == ML_RKIND_OTHER) /* attributes are read from groups and datasets only */
            abort();
        for (int i = 0; i < nattrs; i++)
            if (!attrs[i].name || (attrs[i].v.type == ML_COL_STRING && !attrs[i].v.s))
                abort();
        ml_rfile_free_attrs(attrs, nattrs);
    } else {
        if (attrs || nattrs)
            abort();
        check_failed();
        /* any other object (a named datatype, ...) is refused as such, with its path */
        char want[600];
        snprintf(want, sizeof want, NAME ": %s: is not a group or dataset", path);
        if (kind == ML_RKIND_OTHER && strcmp(ml_errmsg(), want) != 0)
            abort();
    }

    if (kind == ML_RKIND_DATASET) {
        ml_rtable_t t;
        if (ml_rfile_table(f, path, &t) == ML_OK) {
            if (t.ncols < 1 || !t.cols || t.nrows < 0)
                abort();
            for (int c = 0; c < t.ncols; c++) {
                const ml_rcolumn_t *col = &t.cols[c];
                if (!col->name || (t.nrows > 0 && !col->data))
                    abort();
                if (col->type == ML_COL_STRING)
                    for (int64_t i = 0; i < t.nrows; i++)
                        if (!((char **)col->data)[i])
                            abort();
            }
            ml_rfile_free_table(&t);
        } else {
            if (t.cols || t.ncols || t.nrows)
                abort();
            check_failed();
        }
        ml_tensor_t x;
        if (ml_rfile_tensor(f, path, &x) == ML_OK) {
            if (x.ndim < 0 || x.ndim > ML_MAX_DIMS || !x.data)
                abort();
            ml_tensor_free(&x);
        } else {
            if (x.data)
                abort();
            check_failed();
        }
    }

    if (kind != ML_RKIND_GROUP || depth >= MAX_DEPTH)
        return;
    char **names;
    int64_t n;
    if (ml_rfile_list(f, path, &names, &n) != ML_OK) {
        if (names || n)
            abort();
        check_failed();
        return;
    }
    for (int64_t i = 0; i < n && i < MAX_MEMBERS && *budget > 0; i++) {
        if (!names[i])
            abort();
        /* a name with '/' would be a path of its own; HDF5 refuses to make one, a crafted
         * file can still hold one */
        if (!names[i][0] || strchr(names[i], '/') || strlen(names[i]) > 200)
            continue;
        char child[512];
        snprintf(child, sizeof child, "%s%s%s", path, strcmp(path, "/") ? "/" : "", names[i]);
        visit(f, child, depth + 1, budget);
    }
    ml_rfile_free_names(names, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ml_rfile_t *f;
    if (ml_rfile_open_image(&f, data, size, NAME) != ML_OK) {
        if (f)
            abort();
        check_failed();
        return 0;
    }
    ml_rfile_set_limit(f, (size_t)1 << 20);
    int budget = MAX_OBJECTS;
    visit(f, "/", 0, &budget);
    ml_rfile_close(f);
    return 0;
}
