#include "moonlab/rfile.h"

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

#include "h5util.h"

struct ml_rfile {
    hid_t file;
    char *name;   /* what every message calls the file */
    size_t limit; /* largest allocation one read may make */
    /* The file's bytes as opened, for the checks made before HDF5 reads a string: the file
     * kept open (src.fd), or a copy of the image (src.mem, owned). */
    ml__h5_source_t src;
    uint64_t base;  /* where the superblock starts: HDF5's addresses count from there */
    int O, L;       /* the superblock's "Size of Offsets" and "Size of Lengths" */
};

/* Most fields and attributes per object we accept: far beyond what moonlab writes, and small
 * enough that a hostile count cannot make us loop for long before the size limit says no. */
#define MAX_FIELDS 65536

/* "<file>: <object>: <what>"; obj may be NULL for the file itself. */
static int rfail(const ml_rfile_t *f, const char *obj, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int rfail(const ml_rfile_t *f, const char *obj, int code, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (obj)
        return ml__fail(code, "%s: %s: %s", f->name, obj, what);
    return ml__fail(code, "%s: %s", f->name, what);
}

/* As rfail, with the innermost HDF5 error appended ("...: <why>"); must run right after the
 * failing call, since the next HDF5 call clears the stack. */
static int hfail(const ml_rfile_t *f, const char *obj, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int hfail(const ml_rfile_t *f, const char *obj, const char *fmt, ...)
{
    char why[256] = "unknown HDF5 error";
    ml__h5_why(why, sizeof why, 1);
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return rfail(f, obj, ML_EFORMAT, "%s: %s", what, why);
}

/* Frees memory HDF5 allocated for variable-length data read into buf. */
static void reclaim_vlen(hid_t mtype, hid_t space, void *buf)
{
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mtype, space, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf);
#endif
}

/* ---- opening ---- */

/* ---- global heap collections ----
 *
 * Variable-length strings live in global heap collections ("GCOL"). HDF5 1.10 trusts the sizes
 * written there: an object whose size runs past its collection makes H5HG_read copy past the
 * end of its buffer (found by fuzzing), and a free-space entry of size 0 makes the loading
 * loop spin forever. Before HDF5 sees a file, every collection in it is found by its
 * signature and walked as HDF5 walks it; one that would do either is refused. What is not
 * checked: which heap objects a string refers to (that is in object headers and raw data,
 * which only HDF5 parses). */

/* The superblock's "Size of Offsets" (*O) and "Size of Lengths" (*L) at off (versions 0-3);
 * 8 for one that cannot be read or is not a size HDF5 accepts. */
static void superblock_sizes(const ml__h5_source_t *src, uint64_t off, int *O, int *L)
{
    unsigned char sb[16];
    *O = *L = 8;
    if (!ml__h5_read_at(src, off, sb, sizeof sb))
        return;
    int o = sb[8] <= 1 ? sb[13] : sb[9], n = sb[8] <= 1 ? sb[14] : sb[10];
    if (o == 2 || o == 4 || o == 8 || o == 16 || o == 32)
        *O = o;
    if (n == 2 || n == 4 || n == 8 || n == 16 || n == 32)
        *L = n;
}

/* Checks the collection at off; *why says what is wrong (NULL when it is sound). As HDF5 loads
 * it: with want > 0, *wsize is the size of object `want` (the last entry with that index, as
 * HDF5 keeps) and *found says whether there is one. *is_heap says whether off holds a
 * collection HDF5 would load at all (signature and version). */
static void walk_collection(const ml__h5_source_t *src, uint64_t off, int L, const char **why,
                            uint64_t *where, unsigned want, int *found, uint64_t *wsize,
                            int *is_heap)
{
    unsigned char hdr[8 + 32];
    *why = NULL;
    *found = *is_heap = 0;
    if (!ml__h5_read_at(src, off, hdr, 8 + (size_t)L) || memcmp(hdr, "GCOL", 4) != 0 ||
        hdr[4] != 1)
        return; /* not a collection HDF5 would load */
    *is_heap = 1;
    uint64_t size = ml__h5_le(hdr + 8, L);
    uint64_t head = (15 + (uint64_t)L) / 8 * 8, objhdr = 8 + (uint64_t)L;
    if (size > src->size - off) {
        /* HDF5 would allocate the whole size before finding the file too short */
        *why = "collection larger than the file";
        *where = off;
        return;
    }
    if (size < head) {
        *why = "collection smaller than its header";
        *where = off;
        return;
    }
    uint64_t p = head;
    while (p < size) {
        if (size - p < objhdr)
            break; /* the tail is free space too small for a header */
        unsigned char oh[8 + 32];
        if (!ml__h5_read_at(src, off + p, oh, (size_t)objhdr))
            return;
        unsigned idx = (unsigned)oh[0] | (unsigned)oh[1] << 8;
        uint64_t osize = ml__h5_le(oh + 8, L);
        uint64_t need;
        if (idx > 0) {
            if (osize > size - p - objhdr) {
                *why = "an object larger than its collection";
                *where = off + p;
                return;
            }
            need = objhdr + (osize + 7) / 8 * 8;
            if (idx == want) {
                *found = 1;
                *wsize = osize;
            }
        } else {
            if (osize < objhdr || osize > size - p) {
                *why = "a free-space entry of impossible size";
                *where = off + p;
                return;
            }
            need = osize;
        }
        p += need;
    }
}

static void check_collection(const ml__h5_source_t *src, uint64_t off, int L, const char **why,
                             uint64_t *where)
{
    int found, is_heap;
    uint64_t wsize;
    walk_collection(src, off, L, why, where, 0, &found, &wsize, &is_heap);
}

/* Every "GCOL" in the file, checked. */
static int check_heaps(const ml_rfile_t *f, const ml__h5_source_t *src)
{
    int L = f->L;
    errno = 0;
    unsigned char buf[1 << 16];
    uint64_t base = 0;
    while (base < src->size) {
        size_t n = (size_t)(src->size - base < sizeof buf ? src->size - base : sizeof buf);
        if (!ml__h5_read_at(src, base, buf, n))
            return rfail(f, NULL, ML_EIO, "cannot read: %s",
                         errno ? strerror(errno) : "the file changed while being read");
        const unsigned char *end = buf + n, *p = buf;
        while ((p = memchr(p, 'G', (size_t)(end - p))) != NULL) {
            size_t i = (size_t)(p - buf);
            p++;
            if ((size_t)(end - buf) - i < 4 || memcmp(buf + i, "GCOL", 4) != 0)
                continue;
            const char *why;
            uint64_t where = 0;
            check_collection(src, base + i, L, &why, &where);
            if (why)
                return rfail(f, NULL, ML_EFORMAT, "malformed global heap at byte %llu: %s "
                             "(not read: HDF5 would read past it)", (unsigned long long)where,
                             why);
        }
        if (n < sizeof buf)
            break;
        base += n - 3; /* a signature across two blocks is found in the next */
    }
    return ML_OK;
}

static ml_rfile_t *new_rfile(const char *name)
{
    ml_rfile_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->file = H5I_INVALID_HID;
    f->limit = ML_RFILE_DEFAULT_LIMIT;
    f->src.fd = -1;
    f->name = strdup(name);
    if (!f->name) {
        free(f);
        return NULL;
    }
    return f;
}

/* Opens f through fapl under the name HDF5 is given (f->name stays the one messages use). */
static int open_with(ml_rfile_t *f, hid_t fapl, const char *h5name)
{
    /* Strong close: closing the file closes whatever a failed read left open in it. */
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0)
        return hfail(f, NULL, "cannot open");
    f->file = H5Fopen(h5name, H5F_ACC_RDONLY, fapl);
    if (f->file < 0)
        return hfail(f, NULL, "cannot open as HDF5");
    return ML_OK;
}

int ml_rfile_open(ml_rfile_t **out, const char *path)
{
    if (!out)
        return ml__fail(ML_EARG, "rfile: open: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return ml__fail(ML_EARG, "rfile: open: empty file name");
    ml__h5_quiet();
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return ml__fail(ML_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return ml__fail(ML_EIO, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ml__fail(ML_EIO, "%s: %s", path,
                        S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    ml__h5_source_t src = {NULL, fd, (uint64_t)st.st_size};
    uint64_t sb;
    if (!ml__h5_find_superblock(&src, &sb)) {
        close(fd);
        return ml__fail(ML_EFORMAT, "%s: not an HDF5 file", path);
    }
    ml_rfile_t *f = new_rfile(path);
    if (!f) {
        close(fd);
        return ml__fail(ML_ENOMEM, "%s: out of memory", path);
    }
    f->src = src; /* the descriptor is f's now: ml_rfile_close closes it */
    f->base = sb;
    superblock_sizes(&src, sb, &f->O, &f->L);
    int rc = check_heaps(f, &src);
    if (rc) {
        ml_rfile_close(f);
        return rc;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    rc = fapl < 0 ? hfail(f, NULL, "cannot open") : ML_OK;
#if ML__H5_FILE_LOCKING
    /* As the writer: file systems without flock would otherwise refuse every open. */
    if (rc == ML_OK && H5Pset_file_locking(fapl, 1, 1) < 0)
        rc = hfail(f, NULL, "cannot open");
#endif
    if (rc == ML_OK)
        rc = open_with(f, fapl, f->name);
    ml__h5_close(&fapl, H5Pclose);
    if (rc) {
        ml_rfile_close(f);
        return rc;
    }
    *out = f;
    return ML_OK;
}

int ml_rfile_open_image(ml_rfile_t **out, const void *image, size_t size, const char *name)
{
    if (!out)
        return ml__fail(ML_EARG, "rfile: open_image: out is NULL");
    *out = NULL;
    if (!name || !name[0])
        return ml__fail(ML_EARG, "rfile: open_image: empty name");
    if (!image && size > 0)
        return ml__fail(ML_EARG, "%s: image is NULL", name);
    ml__h5_quiet();
    ml__h5_source_t src = {image, -1, size};
    uint64_t sb;
    if (!image || !ml__h5_find_superblock(&src, &sb))
        return ml__fail(ML_EFORMAT, "%s: not an HDF5 file", name);

    ml_rfile_t *f = new_rfile(name);
    unsigned char *copy = f ? malloc(size) : NULL;
    if (!copy) {
        ml_rfile_close(f);
        return ml__fail(ML_ENOMEM, "%s: out of memory", name);
    }
    memcpy(copy, image, size);
    f->src.mem = copy;
    f->src.size = size;
    f->base = sb;
    superblock_sizes(&src, sb, &f->O, &f->L);
    int rc = check_heaps(f, &src);
    if (rc) {
        ml_rfile_close(f);
        return rc;
    }
    /* The core (memory) driver without a backing store: HDF5 copies the image. It still
     * refuses a name that exists on disk ("file already exists"), so it is given one that
     * cannot: procfs allows no new entries. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
        H5Pset_file_image(fapl, (void *)image, size) < 0) /* HDF5's prototype is not const */
        rc = hfail(f, NULL, "cannot open the image");
    if (rc == ML_OK)
        rc = open_with(f, fapl, "/proc/self/moonlab-file-image");
    ml__h5_close(&fapl, H5Pclose);
    if (rc) {
        ml_rfile_close(f);
        return rc;
    }
    *out = f;
    return ML_OK;
}

void ml_rfile_close(ml_rfile_t *f)
{
    if (!f)
        return;
    ml__h5_quiet();
    ml__h5_close(&f->file, H5Fclose);
    if (f->src.fd >= 0)
        close(f->src.fd);
    free((void *)f->src.mem);
    free(f->name);
    free(f);
}

hid_t ml__rfile_hid(const ml_rfile_t *f)
{
    return f->file;
}

const char *ml_rfile_name(const ml_rfile_t *f)
{
    return f ? f->name : "";
}

void ml_rfile_set_limit(ml_rfile_t *f, size_t bytes)
{
    if (f)
        f->limit = bytes ? bytes : 1;
}

/* ---- finding objects ---- */

static int check_call(const ml_rfile_t *f, const char *path, const char *what)
{
    if (!f)
        return ml__fail(ML_EARG, "rfile: %s on a NULL file", what);
    if (!path || path[0] != '/')
        return rfail(f, path ? path : "(null)", ML_EARG, "%s: object paths start with '/'", what);
    ml__h5_quiet();
    return ML_OK;
}

/* *id = the object at path, opened, after checking that every link on the way is a hard link
 * and every object before the last a group; *id is H5I_INVALID_HID (and ML_OK) when nothing
 * is there. */
static int open_path(const ml_rfile_t *f, const char *path, hid_t *id)
{
    *id = H5I_INVALID_HID;
    size_t n = strlen(path);
    char *p = strdup(path);
    if (!p)
        return rfail(f, path, ML_ENOMEM, "out of memory");
    int rc = ML_OK, present = 1;
    for (size_t i = 0; i < n && present && rc == ML_OK; i++) {
        if (p[i] == '/')
            continue;
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        char saved = p[j];
        p[j] = '\0';
        if (strcmp(p + i, ".") != 0) {
            htri_t e = H5Lexists(f->file, p, H5P_DEFAULT);
            H5L_info_t info;
            if (e < 0) {
                rc = hfail(f, p, "cannot look up");
            } else if (e == 0) {
                present = 0;
            } else if (H5Lget_info(f->file, p, &info, H5P_DEFAULT) < 0) {
                rc = hfail(f, p, "cannot read the link");
            } else if (info.type != H5L_TYPE_HARD) {
                rc = rfail(f, p, ML_EFORMAT, "is %s link (moonlab writes none; not followed)",
                           info.type == H5L_TYPE_SOFT       ? "a soft"
                           : info.type == H5L_TYPE_EXTERNAL ? "an external"
                                                            : "a user-defined");
            } else if (strspn(path + j, "/") < n - j) {
                /* something follows: this one must be a group */
                hid_t o = H5Oopen(f->file, p, H5P_DEFAULT);
                if (o < 0)
                    rc = hfail(f, p, "cannot open");
                else if (H5Iget_type(o) != H5I_GROUP)
                    present = 0;
                ml__h5_close(&o, H5Oclose);
            }
        }
        p[j] = saved;
        i = j;
    }
    free(p);
    if (rc == ML_OK && present) {
        *id = H5Oopen(f->file, path, H5P_DEFAULT);
        if (*id < 0)
            rc = hfail(f, path, "cannot open");
    }
    return rc;
}

int ml_rfile_kind(ml_rfile_t *f, const char *path, ml_rkind_t *kind)
{
    if (kind)
        *kind = ML_RKIND_NONE;
    int rc = check_call(f, path, "kind");
    if (rc)
        return rc;
    if (!kind)
        return rfail(f, path, ML_EARG, "kind: out is NULL");
    hid_t o;
    if ((rc = open_path(f, path, &o)) != ML_OK || o < 0)
        return rc;
    H5I_type_t t = H5Iget_type(o);
    *kind = t == H5I_GROUP ? ML_RKIND_GROUP : t == H5I_DATASET ? ML_RKIND_DATASET : ML_RKIND_OTHER;
    ml__h5_close(&o, H5Oclose);
    return ML_OK;
}

/* Opens the object at path and checks it is of the kind wanted (H5I_GROUP, H5I_DATASET, or
 * H5I_BADID for a group or a dataset). */
static int open_kind(const ml_rfile_t *f, const char *path, H5I_type_t want, hid_t *id)
{
    int rc = open_path(f, path, id);
    if (rc)
        return rc;
    if (*id < 0)
        return rfail(f, path, ML_EARG, "no such object");
    H5I_type_t t = H5Iget_type(*id);
    if (want == H5I_BADID ? (t == H5I_GROUP || t == H5I_DATASET) : t == want)
        return ML_OK;
    ml__h5_close(id, H5Oclose);
    return rfail(f, path, ML_EARG, "is not a %s",
                 want == H5I_GROUP ? "group" : want == H5I_DATASET ? "dataset"
                                                                   : "group or dataset");
}

/* ---- listing ---- */

void ml_rfile_free_names(char **names, int64_t n)
{
    if (!names)
        return;
    for (int64_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

typedef struct {
    char **names;
    int64_t n, cap;
    size_t used, limit; /* bytes taken by the list and the names, against the reader's limit */
    int over;
} linklist_t;

static herr_t collect_link(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    linklist_t *l = data;
    size_t len = strlen(name);
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 16;
        if ((uint64_t)cap * sizeof(char *) > l->limit - l->used) {
            l->over = 1;
            return -1;
        }
        char **nn = realloc(l->names, (size_t)cap * sizeof *nn);
        if (!nn)
            return -1;
        l->names = nn;
        l->cap = cap;
    }
    if (len + 1 + sizeof(char *) > l->limit - l->used) {
        l->over = 1;
        return -1;
    }
    l->used += len + 1 + sizeof(char *);
    l->names[l->n] = strdup(name);
    if (!l->names[l->n])
        return -1;
    l->n++;
    return 0;
}

int ml_rfile_list(ml_rfile_t *f, const char *group, char ***names, int64_t *n)
{
    if (names)
        *names = NULL;
    if (n)
        *n = 0;
    int rc = check_call(f, group, "list");
    if (rc)
        return rc;
    if (!names || !n)
        return rfail(f, group, ML_EARG, "list: out is NULL");
    hid_t g;
    if ((rc = open_kind(f, group, H5I_GROUP, &g)) != ML_OK)
        return rc;
    /* one pass in name order (looking each member up by index would be quadratic) */
    linklist_t l = {NULL, 0, 0, 0, f->limit, 0};
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_link, &l) < 0)
        rc = l.over ? rfail(f, group, ML_EFORMAT, "more members than the reader's limit")
                    : hfail(f, group, "cannot list the members");
    ml__h5_close(&g, H5Oclose);
    if (rc) {
        ml_rfile_free_names(l.names, l.n);
        return rc;
    }
    if (!l.names && !(l.names = malloc(sizeof *l.names))) {
        return rfail(f, group, ML_ENOMEM, "out of memory listing the members");
    }
    *names = l.names;
    *n = l.n;
    return ML_OK;
}

/* ---- types ---- */

/* The value type a stored type is read as, or -1 with *why saying what it is. Only types with
 * a plain meaning are accepted: whole-byte integers, IEEE floats, strings. */
static int classify(hid_t t, const char **why)
{
    size_t size = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        if ((size == 1 || size == 2 || size == 4 || size == 8) && H5Tget_offset(t) == 0 &&
            H5Tget_precision(t) == 8 * size)
            return ML_COL_INT64;
        *why = "integer with unusual bit layout";
        return -1;
    case H5T_FLOAT:
        if (H5Tequal(t, H5T_IEEE_F64LE) > 0 || H5Tequal(t, H5T_IEEE_F32LE) > 0 ||
            H5Tequal(t, H5T_IEEE_F64BE) > 0 || H5Tequal(t, H5T_IEEE_F32BE) > 0)
            return ML_COL_FLOAT64;
        *why = "float that is not IEEE single or double";
        return -1;
    case H5T_STRING: {
        htri_t vl = H5Tis_variable_str(t);
        H5T_cset_t cs = H5Tget_cset(t);
        if (vl < 0 || (cs != H5T_CSET_ASCII && cs != H5T_CSET_UTF8) || (!vl && size == 0)) {
            *why = "malformed string";
            return -1;
        }
        return ML_COL_STRING;
    }
    case H5T_COMPOUND: *why = "compound"; return -1;
    case H5T_ENUM: *why = "enum"; return -1;
    case H5T_ARRAY: *why = "array"; return -1;
    case H5T_VLEN: *why = "variable-length sequence"; return -1;
    case H5T_OPAQUE: *why = "opaque"; return -1;
    case H5T_REFERENCE: *why = "reference"; return -1;
    case H5T_BITFIELD: *why = "bitfield"; return -1;
    case H5T_TIME: *why = "time"; return -1;
    default: *why = "unknown"; return -1;
    }
}

/* A memory string type for reading strings of file type ft: variable length as char *,
 * fixed length n as n + 1 bytes ending in NUL. */
static hid_t mem_string_type(hid_t ft, int vlen)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return t;
    if (H5Tset_size(t, vlen ? H5T_VARIABLE : H5Tget_size(ft) + 1) < 0 ||
        H5Tset_cset(t, H5Tget_cset(ft)) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

/* ---- attributes ---- */

void ml_rfile_free_attrs(ml_rattr_t *attrs, int n)
{
    if (!attrs)
        return;
    for (int i = 0; i < n; i++) {
        free(attrs[i].name);
        free(attrs[i].v.s);
    }
    free(attrs);
}

typedef struct {
    char **names;
    int n, cap;
} namelist_t;

static herr_t collect_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    namelist_t *l = data;
    if (l->n == l->cap) {
        if (l->cap >= MAX_FIELDS)
            return -1;
        int cap = l->cap ? 2 * l->cap : 16;
        char **nn = realloc(l->names, (size_t)cap * sizeof *nn);
        if (!nn)
            return -1;
        l->names = nn;
        l->cap = cap;
    }
    l->names[l->n] = strdup(name);
    if (!l->names[l->n])
        return -1;
    l->n++;
    return 0;
}

/* ---- variable-length strings in attributes ----
 *
 * A variable-length string is stored as its length, the address of a global heap collection
 * and the index of an object in it. HDF5 1.10 trusts all three when it reads the string: an
 * index with no object behind it makes H5HG_read dereference NULL or read past its table of
 * objects, an object larger than the length is copied past the buffer made for the length, and
 * a length of gigabytes is allocated before the object is looked at (all found by fuzzing).
 * So before an attribute's string is read, its stored value is found in the object's header
 * (versions 1 and 2, with their continuation blocks) and checked against the collection it
 * names: the object must exist and hold exactly the string's length, and a character must be
 * one byte (HDF5 allocates length times its size). An attribute whose value
 * is not in the header (kept in dense storage or as a shared message: moonlab writes neither)
 * cannot be checked and is not read. Strings in table columns are dataset data, which only
 * HDF5 parses (chunked, maybe compressed): only their character size is checked (read_column);
 * the heap objects they name are not. */

#define MAX_HEADER_BLOCKS 64 /* continuation blocks followed per header; HDF5 files need few */

/* Where the header of open object o starts in the file (absolute); 0 when HDF5 cannot say. */
static int header_at(const ml_rfile_t *f, hid_t o, uint64_t *at)
{
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t info;
    haddr_t addr;
    if (H5Oget_info3(o, &info, H5O_INFO_BASIC) < 0 ||
        H5VLnative_token_to_addr(o, info.token, &addr) < 0)
        return 0;
#else
    H5O_info_t info;
    if (H5Oget_info2(o, &info, H5O_INFO_BASIC) < 0)
        return 0;
    haddr_t addr = info.addr;
#endif
    if (addr == HADDR_UNDEF || addr > UINT64_MAX - f->base)
        return 0;
    *at = f->base + addr;
    return 1;
}

/* Why the stored string value v (length, collection address, object index) would make HDF5 go
 * wrong; NULL when it can be read. */
static const char *check_string_ref(const ml_rfile_t *f, const unsigned char *v, char *why,
                                    size_t n)
{
    uint64_t len = ml__h5_le(v, 4), addr = ml__h5_le(v + 4, f->O);
    uint64_t idx = ml__h5_le(v + 4 + f->O, 4);
    if (addr == 0)
        return NULL; /* no heap object: HDF5 reads an empty string */
    if (addr > UINT64_MAX - f->base) {
        snprintf(why, n, "its value names a global heap beyond the file");
        return why;
    }
    const char *bad;
    uint64_t at = f->base + addr, where = 0, size = 0;
    int found, is_heap;
    walk_collection(&f->src, at, f->L, &bad, &where, idx <= 0xffff ? (unsigned)idx : 0, &found,
                    &size, &is_heap);
    if (!is_heap)
        snprintf(why, n, "its value names a global heap at byte %llu, where there is none",
                 (unsigned long long)at);
    else if (bad)
        snprintf(why, n, "malformed global heap at byte %llu: %s", (unsigned long long)where,
                 bad);
    else if (idx == 0 || !found)
        snprintf(why, n, "its value is object %llu of the global heap at byte %llu, which has "
                 "no such object", (unsigned long long)idx, (unsigned long long)at);
    else if (size != len)
        snprintf(why, n, "its value claims %llu bytes, but its global heap object holds %llu",
                 (unsigned long long)len, (unsigned long long)size);
    else
        return NULL;
    return why;
}

/* Checks the value of every attribute message named name in the header message at msg (type,
 * size, message flags): *matched counts them. NULL, or why it cannot be read. */
static const char *check_attr_message(const ml_rfile_t *f, const unsigned char *m, uint64_t size,
                                      const char *name, int *matched, char *why, size_t n)
{
    if (size < 8)
        return NULL; /* too short to be one HDF5 decodes */
    unsigned version = m[0];
    uint64_t nlen = ml__h5_le(m + 2, 2), dtlen = ml__h5_le(m + 4, 2),
             dslen = ml__h5_le(m + 6, 2);
    uint64_t pos = version == 3 ? 9 : 8, data;
    if (version == 1)
        data = pos + (nlen + 7) / 8 * 8 + (dtlen + 7) / 8 * 8 + (dslen + 7) / 8 * 8;
    else if (version == 2 || version == 3)
        data = pos + nlen + dtlen + dslen;
    else
        return NULL; /* a version HDF5 refuses to decode */
    /* the name as HDF5 takes it: up to its first NUL */
    size_t want = strlen(name);
    if (nlen < want + 1 || pos + want >= size || memcmp(m + pos, name, want) != 0 ||
        m[pos + want] != '\0')
        return NULL;
    (*matched)++;
    uint64_t need = 4 + (uint64_t)f->O + 4;
    if (data > size || size - data < need) {
        snprintf(why, n, "its stored value is shorter than a string's reference");
        return why;
    }
    return check_string_ref(f, m + data, why, n);
}

/* Checks the stored value of the one-element variable-length string attribute `name` of open
 * object o before HDF5 reads it: ML_OK, or a failure saying why it is not read. */
static int check_string_attr(const ml_rfile_t *f, const char *obj, hid_t o, hid_t ft,
                             const char *name)
{
    char why[256] = "";
    const char *bad = NULL;
    int matched = 0;
    uint64_t at;
    /* HDF5 allocates the length times the size of a character, as the file gives it */
    hid_t base = H5Tget_super(ft);
    size_t csize = base >= 0 ? H5Tget_size(base) : 0;
    ml__h5_close(&base, H5Tclose);
    if (csize != 1)
        return rfail(f, obj, ML_EFORMAT, "attribute '%s' not read: a string whose characters "
                     "are %zu bytes each, not 1", name, csize);
    if (!header_at(f, o, &at))
        return hfail(f, obj, "cannot locate the header holding attribute '%s'", name);
    unsigned char pre[32];
    uint64_t blocks[MAX_HEADER_BLOCKS][2]; /* start and end of each block of messages */
    int nblocks = 0, v2 = 0, crt = 0;
    if (!ml__h5_read_at(&f->src, at, pre, 16)) {
        bad = "its object header is outside the file";
    } else if (pre[0] == 1) {
        blocks[nblocks][0] = at + 16;
        blocks[nblocks++][1] = at + 16 + ml__h5_le(pre + 8, 4);
    } else if (memcmp(pre, "OHDR", 4) == 0 && pre[4] == 2) {
        v2 = 1;
        unsigned flags = pre[5];
        crt = (flags & 0x04) != 0;
        uint64_t p = at + 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
        int w = 1 << (flags & 3);
        unsigned char sz[8];
        if (!ml__h5_read_at(&f->src, p, sz, (size_t)w)) {
            bad = "its object header is outside the file";
        } else {
            blocks[nblocks][0] = p + (uint64_t)w;
            blocks[nblocks++][1] = p + (uint64_t)w + ml__h5_le(sz, w);
        }
    } else {
        bad = "its object header is of no version HDF5 writes";
    }
    for (int b = 0; !bad && b < nblocks; b++) {
        uint64_t p = blocks[b][0], end = blocks[b][1];
        uint64_t mh = v2 ? (crt ? 6 : 4) : 8; /* a message's own header */
        if (end < p || end > f->src.size) {
            bad = "its object header runs past the end of the file";
            break;
        }
        while (!bad && end - p >= mh) {
            unsigned char h[8];
            if (!ml__h5_read_at(&f->src, p, h, (size_t)mh)) {
                bad = "its object header cannot be read";
                break;
            }
            unsigned type = v2 ? h[0] : (unsigned)ml__h5_le(h, 2);
            uint64_t size = ml__h5_le(h + (v2 ? 1 : 2), 2);
            unsigned mflags = h[v2 ? 3 : 4];
            p += mh;
            if (size > end - p)
                break; /* HDF5 refuses such a header */
            if (type == 0x10 && size >= (uint64_t)f->O + (uint64_t)f->L) {
                /* continuation: another block of messages */
                unsigned char c[64];
                if (!ml__h5_read_at(&f->src, p, c, (size_t)f->O + (size_t)f->L)) {
                    bad = "its object header cannot be read";
                    break;
                }
                uint64_t addr = ml__h5_le(c, f->O), len = ml__h5_le(c + f->O, f->L);
                if (nblocks == MAX_HEADER_BLOCKS || addr > UINT64_MAX - f->base ||
                    len > UINT64_MAX - f->base - addr || (v2 && len < 8)) {
                    bad = "its object header has too many or impossible continuation blocks";
                    break;
                }
                uint64_t s0 = f->base + addr;
                blocks[nblocks][0] = v2 ? s0 + 4 : s0; /* v2: "OCHK" ... checksum */
                blocks[nblocks++][1] = v2 ? s0 + len - 4 : s0 + len;
            } else if (type == 0x0C && !(mflags & 0x02)) {
                /* an attribute message (not one shared elsewhere) */
                unsigned char *m = size ? malloc((size_t)size) : NULL;
                if (size && !m)
                    return rfail(f, obj, ML_ENOMEM, "out of memory checking attribute '%s'",
                                 name);
                if (m && ml__h5_read_at(&f->src, p, m, (size_t)size))
                    bad = check_attr_message(f, m, size, name, &matched, why, sizeof why);
                free(m);
            }
            p += size;
        }
    }
    if (!bad && matched == 0)
        bad = "its value is not stored in the object header, where moonlab checks strings "
              "before reading them";
    if (bad)
        return rfail(f, obj, ML_EFORMAT, "attribute '%s' not read: %s", name, bad);
    return ML_OK;
}

/* One attribute's value: attribute a of open object o; obj names o in messages. */
static int read_attr(const ml_rfile_t *f, const char *obj, hid_t o, hid_t a, const char *name,
                     ml_rvalue_t *v)
{
    hid_t space = H5Aget_space(a), ft = H5Aget_type(a), mt = H5I_INVALID_HID;
    char *vs = NULL;
    int rc = ML_OK;
    if (space < 0 || ft < 0) {
        rc = hfail(f, obj, "cannot read attribute '%s'", name);
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    if (!(sc == H5S_SCALAR || (sc == H5S_SIMPLE && npoints == 1))) {
        rc = rfail(f, obj, ML_EFORMAT, "attribute '%s' is not a single value (%lld values)",
                   name, (long long)(sc == H5S_SIMPLE ? npoints : 0));
        goto done;
    }
    const char *why = NULL;
    int type = classify(ft, &why);
    if (type < 0) {
        rc = rfail(f, obj, ML_EFORMAT, "attribute '%s' has an unsupported type (%s)", name, why);
        goto done;
    }
    v->type = (ml_col_type_t)type;
    if (type == ML_COL_INT64) {
        if (H5Aread(a, H5T_NATIVE_INT64, &v->i) < 0)
            rc = hfail(f, obj, "cannot read attribute '%s'", name);
    } else if (type == ML_COL_FLOAT64) {
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &v->d) < 0)
            rc = hfail(f, obj, "cannot read attribute '%s'", name);
    } else if (H5Tis_variable_str(ft) > 0) {
        if ((rc = check_string_attr(f, obj, o, ft, name)) != ML_OK)
            goto done;
        mt = mem_string_type(ft, 1);
        if (mt < 0 || H5Aread(a, mt, &vs) < 0) {
            rc = hfail(f, obj, "cannot read attribute '%s'", name);
            goto done;
        }
        v->s = strdup(vs ? vs : "");
        reclaim_vlen(mt, space, &vs);
        if (!v->s)
            rc = rfail(f, obj, ML_ENOMEM, "out of memory reading attribute '%s'", name);
    } else {
        size_t n = H5Tget_size(ft);
        if (n >= f->limit) {
            rc = rfail(f, obj, ML_EFORMAT, "attribute '%s' is a string of %zu bytes, more than "
                       "the reader's limit", name, n);
            goto done;
        }
        mt = mem_string_type(ft, 0);
        v->s = calloc(n + 1, 1);
        if (mt < 0 || !v->s) {
            rc = rfail(f, obj, ML_ENOMEM, "out of memory reading attribute '%s'", name);
            goto done;
        }
        if (H5Aread(a, mt, v->s) < 0)
            rc = hfail(f, obj, "cannot read attribute '%s'", name);
        v->s[n] = '\0';
    }
done:
    ml__h5_close(&mt, H5Tclose);
    ml__h5_close(&ft, H5Tclose);
    ml__h5_close(&space, H5Sclose);
    return rc;
}

int ml_rfile_attrs(ml_rfile_t *f, const char *obj, ml_rattr_t **attrs, int *n)
{
    if (attrs)
        *attrs = NULL;
    if (n)
        *n = 0;
    int rc = check_call(f, obj, "attrs");
    if (rc)
        return rc;
    if (!attrs || !n)
        return rfail(f, obj, ML_EARG, "attrs: out is NULL");
    hid_t o;
    if ((rc = open_kind(f, obj, H5I_BADID, &o)) != ML_OK)
        return rc;
    namelist_t l = {NULL, 0, 0};
    ml_rattr_t *out = NULL;
    int count = 0;
    hsize_t idx = 0;
    if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr, &l) < 0) {
        rc = l.n >= MAX_FIELDS ? rfail(f, obj, ML_EFORMAT, "more than %d attributes", MAX_FIELDS)
                               : hfail(f, obj, "cannot list the attributes");
        goto done;
    }
    out = calloc(l.n ? (size_t)l.n : 1, sizeof *out);
    if (!out) {
        rc = rfail(f, obj, ML_ENOMEM, "out of memory reading attributes");
        goto done;
    }
    for (int i = 0; i < l.n && rc == ML_OK; i++) {
        hid_t a = H5Aopen(o, l.names[i], H5P_DEFAULT);
        if (a < 0) {
            rc = hfail(f, obj, "cannot open attribute '%s'", l.names[i]);
            break;
        }
        out[count].name = l.names[i];
        l.names[i] = NULL;
        count++;
        rc = read_attr(f, obj, o, a, out[count - 1].name, &out[count - 1].v);
        H5Aclose(a);
    }
done:
    for (int i = 0; i < l.n; i++)
        free(l.names[i]);
    free(l.names);
    ml__h5_close(&o, H5Oclose);
    if (rc) {
        ml_rfile_free_attrs(out, count);
        return rc;
    }
    *attrs = out;
    *n = count;
    return ML_OK;
}

/* ---- datasets ---- */

/* Refuses data that lives outside the file: external raw files and virtual datasets would
 * make a result file read whatever files it names. */
static int check_storage(const ml_rfile_t *f, const char *path, hid_t d, hid_t ftype)
{
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0)
        return hfail(f, path, "cannot read the dataset's storage");
    int rc = ML_OK;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    int external = H5Pget_external_count(dcpl);
    if (layout < 0 || external < 0)
        rc = hfail(f, path, "cannot read the dataset's storage");
    else if (layout == H5D_VIRTUAL)
        rc = rfail(f, path, ML_EFORMAT, "is a virtual dataset (data in other files; not read)");
    else if (external > 0)
        rc = rfail(f, path, ML_EFORMAT, "is stored in %d external file%s (not read)", external,
                   external == 1 ? "" : "s");
    /* HDF5 reads a whole chunk at a time and converts a whole element at a time: both must
     * fit the limit before it allocates them */
    size_t esize = H5Tget_size(ftype);
    if (rc == ML_OK && (esize == 0 || esize > f->limit))
        rc = rfail(f, path, ML_EFORMAT, "elements of %zu bytes (reader's limit %zu)", esize,
                   f->limit);
    if (rc == ML_OK && layout == H5D_CHUNKED) {
        hsize_t chunk[32];
        int rank = H5Pget_chunk(dcpl, 32, chunk);
        uint64_t bytes = esize;
        for (int i = 0; i < rank && rc == ML_OK; i++) {
            if (chunk[i] > 0 && bytes > f->limit / chunk[i])
                rc = rfail(f, path, ML_EFORMAT, "chunks larger than the reader's limit");
            bytes *= chunk[i];
        }
        if (rank < 0)
            rc = hfail(f, path, "cannot read the dataset's chunks");
    }
    H5Pclose(dcpl);
    return rc;
}

/* The dataset at path, opened, with its file type and dataspace, once check_storage accepts
 * it; nothing is left open on failure. `what` names it in a message. */
static int open_dataset(const ml_rfile_t *f, const char *path, const char *what, hid_t *d,
                        hid_t *ft, hid_t *space)
{
    *ft = *space = H5I_INVALID_HID;
    int rc = open_kind(f, path, H5I_DATASET, d);
    if (rc)
        return rc;
    *ft = H5Dget_type(*d);
    *space = H5Dget_space(*d);
    if (*ft < 0 || *space < 0)
        rc = hfail(f, path, "cannot read %s", what);
    else
        rc = check_storage(f, path, *d, *ft);
    if (rc) {
        ml__h5_close(space, H5Sclose);
        ml__h5_close(ft, H5Tclose);
        ml__h5_close(d, H5Oclose);
    }
    return rc;
}

void ml_rfile_free_table(ml_rtable_t *t)
{
    if (!t)
        return;
    for (int c = 0; c < t->ncols && t->cols; c++) {
        ml_rcolumn_t *col = &t->cols[c];
        if (col->type == ML_COL_STRING && col->data) {
            char **s = col->data;
            for (int64_t i = 0; i < t->nrows; i++)
                free(s[i]);
        }
        free(col->data);
        free(col->name);
    }
    free(t->cols);
    memset(t, 0, sizeof *t);
}

/* Reads field `name` of every row into col->data through a one-field compound memory type
 * (HDF5 matches fields by name). *used counts the bytes taken so far against the limit. */
static int read_column(const ml_rfile_t *f, const char *path, hid_t d, hid_t space,
                       hid_t fieldtype, int64_t nrows, ml_rcolumn_t *col, size_t *used)
{
    int vlen = col->type == ML_COL_STRING && H5Tis_variable_str(fieldtype) > 0;
    hid_t st = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    size_t elt = 8;
    unsigned char *buf = NULL;
    int rc = ML_OK;
    if (col->type == ML_COL_STRING) {
        st = mem_string_type(fieldtype, vlen);
        if (st < 0) {
            rc = hfail(f, path, "cannot read column '%s'", col->name);
            goto done;
        }
        elt = H5Tget_size(st);
        if (elt == 0 || elt >= f->limit) {
            rc = rfail(f, path, ML_EFORMAT, "column '%s' holds strings of %zu bytes, more than "
                       "the reader's limit", col->name, H5Tget_size(fieldtype));
            goto done;
        }
    }
    /* nrows * (elt + a pointer, for fixed strings) must fit what is left of the limit. */
    size_t per_row = elt + (col->type == ML_COL_STRING && !vlen ? sizeof(char *) : 0);
    if ((uint64_t)nrows > (f->limit - *used) / per_row) {
        rc = rfail(f, path, ML_EFORMAT, "%lld rows of column '%s' are more than the reader's "
                   "limit", (long long)nrows, col->name);
        goto done;
    }
    *used += (size_t)nrows * per_row;
    mt = H5Tcreate(H5T_COMPOUND, elt);
    if (mt < 0 || H5Tinsert(mt, col->name, 0,
                            col->type == ML_COL_INT64     ? H5T_NATIVE_INT64
                            : col->type == ML_COL_FLOAT64 ? H5T_NATIVE_DOUBLE
                                                          : st) < 0) {
        rc = hfail(f, path, "cannot read column '%s'", col->name);
        goto done;
    }
    if (vlen) {
        /* HDF5 allocates each string's length times the size of a character, as the file
         * gives it, before reading it: a character must be one byte */
        hid_t base = H5Tget_super(fieldtype);
        size_t csize = base >= 0 ? H5Tget_size(base) : 0;
        ml__h5_close(&base, H5Tclose);
        if (csize != 1) {
            rc = rfail(f, path, ML_EFORMAT, "column '%s' not read: strings whose characters are "
                       "%zu bytes each, not 1", col->name, csize);
            goto done;
        }
        /* What HDF5 would allocate for the strings, checked before it does. */
        hsize_t need = 0;
        if (H5Dvlen_get_buf_size(d, mt, space, &need) < 0) {
            rc = hfail(f, path, "cannot read column '%s'", col->name);
            goto done;
        }
        if (need >= f->limit - *used) {
            rc = rfail(f, path, ML_EFORMAT, "the strings of column '%s' (%llu bytes) are more "
                       "than the reader's limit", col->name, (unsigned long long)need);
            goto done;
        }
        *used += (size_t)need + (size_t)nrows;
    }
    buf = calloc(nrows ? (size_t)nrows : 1, elt);
    if (!buf) {
        rc = rfail(f, path, ML_ENOMEM, "out of memory reading column '%s'", col->name);
        goto done;
    }
    if (nrows > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        rc = hfail(f, path, "cannot read column '%s'", col->name);
        if (vlen)
            reclaim_vlen(mt, space, buf);
        goto done;
    }
    if (col->type != ML_COL_STRING) {
        col->data = buf;
        buf = NULL;
        goto done;
    }
    /* Strings: one malloc'd copy per row, whatever HDF5 gave. */
    char **s = calloc(nrows ? (size_t)nrows : 1, sizeof *s);
    col->data = s;
    for (int64_t i = 0; s && i < nrows; i++) {
        const char *src = vlen ? ((char **)buf)[i] : (const char *)buf + (size_t)i * elt;
        if (!vlen)
            buf[(size_t)i * elt + elt - 1] = '\0';
        s[i] = strdup(src ? src : "");
        if (!s[i])
            s = NULL; /* the copies made stay in col->data and are freed with the table */
    }
    if (vlen)
        reclaim_vlen(mt, space, buf);
    if (!s)
        rc = rfail(f, path, ML_ENOMEM, "out of memory reading column '%s'", col->name);
done:
    free(buf);
    ml__h5_close(&mt, H5Tclose);
    ml__h5_close(&st, H5Tclose);
    return rc;
}

int ml_rfile_table(ml_rfile_t *f, const char *path, ml_rtable_t *t)
{
    if (t)
        memset(t, 0, sizeof *t);
    int rc = check_call(f, path, "table");
    if (rc)
        return rc;
    if (!t)
        return rfail(f, path, ML_EARG, "table: out is NULL");
    hid_t d, ft, space;
    if ((rc = open_dataset(f, path, "the table", &d, &ft, &space)) != ML_OK)
        return rc;
    ml_rtable_t tab = {0, 0, NULL};
    size_t used = 0;
    if (H5Tget_class(ft) != H5T_COMPOUND) {
        rc = rfail(f, path, ML_EFORMAT, "is not a table (a dataset without named columns)");
        goto done;
    }
    int rank = H5Sget_simple_extent_ndims(space);
    hsize_t dims[1] = {0};
    if (H5Sget_simple_extent_type(space) != H5S_SIMPLE || rank != 1 ||
        H5Sget_simple_extent_dims(space, dims, NULL) != 1) {
        rc = rfail(f, path, ML_EFORMAT, "is not a one-dimensional table");
        goto done;
    }
    int nfields = H5Tget_nmembers(ft);
    if (nfields < 1 || nfields > MAX_FIELDS) {
        rc = rfail(f, path, ML_EFORMAT, "table has %d columns", nfields);
        goto done;
    }
    if (dims[0] > (hsize_t)INT64_MAX || dims[0] > f->limit / H5Tget_size(ft)) {
        rc = rfail(f, path, ML_EFORMAT, "%llu rows of %zu bytes are more than the reader's "
                   "limit", (unsigned long long)dims[0], H5Tget_size(ft));
        goto done;
    }
    tab.nrows = (int64_t)dims[0];
    tab.cols = calloc((size_t)nfields, sizeof *tab.cols);
    if (!tab.cols) {
        rc = rfail(f, path, ML_ENOMEM, "out of memory reading the table");
        goto done;
    }
    for (int c = 0; c < nfields && rc == ML_OK; c++) {
        ml_rcolumn_t *col = &tab.cols[c];
        char *hname = H5Tget_member_name(ft, (unsigned)c);
        hid_t mt = H5Tget_member_type(ft, (unsigned)c);
        if (!hname || mt < 0) {
            rc = hfail(f, path, "cannot read the type of column %d", c + 1);
        } else {
            col->name = strdup(hname);
            tab.ncols = c + 1;
            const char *why = NULL;
            int type = classify(mt, &why);
            if (!col->name)
                rc = rfail(f, path, ML_ENOMEM, "out of memory reading the table");
            else if (type < 0)
                rc = rfail(f, path, ML_EFORMAT, "column '%s' has an unsupported type (%s)",
                           col->name, why);
            else
                col->type = (ml_col_type_t)type;
            if (rc == ML_OK)
                rc = read_column(f, path, d, space, mt, tab.nrows, col, &used);
        }
        if (hname)
            H5free_memory(hname);
        ml__h5_close(&mt, H5Tclose);
    }
done:
    ml__h5_close(&space, H5Sclose);
    ml__h5_close(&ft, H5Tclose);
    ml__h5_close(&d, H5Oclose);
    if (rc) {
        ml_rfile_free_table(&tab);
        return rc;
    }
    *t = tab;
    return ML_OK;
}

int ml_rfile_tensor(ml_rfile_t *f, const char *path, ml_tensor_t *t)
{
    if (t)
        memset(t, 0, sizeof *t);
    int rc = check_call(f, path, "tensor");
    if (rc)
        return rc;
    if (!t)
        return rfail(f, path, ML_EARG, "tensor: out is NULL");
    hid_t d, ft, space;
    if ((rc = open_dataset(f, path, "the dataset", &d, &ft, &space)) != ML_OK)
        return rc;
    const char *why = "string";
    int type = classify(ft, &why);
    if (type != ML_COL_INT64 && type != ML_COL_FLOAT64) {
        rc = rfail(f, path, ML_EFORMAT, "is not numeric (%s)", why);
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    int ndim = H5Sget_simple_extent_ndims(space);
    if ((sc != H5S_SCALAR && sc != H5S_SIMPLE) || ndim < 0 || ndim > ML_MAX_DIMS) {
        rc = rfail(f, path, ML_EFORMAT, "has %d dimensions (a tensor has 0 to %d)", ndim,
                   ML_MAX_DIMS);
        goto done;
    }
    hsize_t dims[ML_MAX_DIMS] = {0};
    int64_t shape[ML_MAX_DIMS] = {0};
    if (ndim > 0 && H5Sget_simple_extent_dims(space, dims, NULL) != ndim) {
        rc = hfail(f, path, "cannot read the dataset's shape");
        goto done;
    }
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] > 0 && numel > f->limit / sizeof(float) / dims[i]) {
            rc = rfail(f, path, ML_EFORMAT, "is larger than the reader's limit");
            goto done;
        }
        numel *= dims[i];
        shape[i] = (int64_t)dims[i];
    }
    if (numel * sizeof(float) > f->limit) {
        rc = rfail(f, path, ML_EFORMAT, "is larger than the reader's limit");
        goto done;
    }
    if ((rc = ml_tensor_new(t, ndim, shape)) != ML_OK) {
        rc = rfail(f, path, rc, "%s", ml_errmsg());
        goto done;
    }
    if (numel > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0) {
        rc = hfail(f, path, "cannot read the dataset");
        ml_tensor_free(t);
    }
done:
    ml__h5_close(&space, H5Sclose);
    ml__h5_close(&ft, H5Tclose);
    ml__h5_close(&d, H5Oclose);
    return rc;
}
