/* Readers for real data sets (datasets.h): IDX, numeric CSV, text as character ids.
 *
 * Each file reader reads the whole file into one buffer through zlib (gzread decompresses a
 * gzip file and passes a plain one through), then hands the bytes to the matching in-memory
 * parser. The parsers are the only code that looks at content, so the fuzz targets cover
 * everything but zlib itself. */
#include "moonlab/datasets.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "moonlab/error.h"

/* ---- whole files through zlib ---- */

/* zlib prefixes its messages with the file's name ("<fd:3>" for gzdopen); drop that, ours
 * carry the path. */
static const char *zlib_message(const char *msg)
{
    if (!msg)
        return "unknown zlib error";
    const char *sep = strstr(msg, ": ");
    return sep && strncmp(msg, "<fd:", 4) == 0 ? sep + 2 : msg;
}

/* *out (malloc'd, *n bytes, the caller frees) = the file's contents, decompressed if it is
 * gzip. Truncated or corrupt gzip is ML_EFORMAT; anything the system refuses is ML_EIO. */
static int read_all(const char *path, unsigned char **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ml__fail(ML_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ml__fail(ML_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return ml__fail(ML_EIO, "%s: cannot read: is a directory", path);
    }
    gzFile gz = gzdopen(fd, "rb"); /* owns fd from here on */
    if (!gz) {
        close(fd);
        return ml__fail(ML_ENOMEM, "%s: cannot open: out of memory", path);
    }
    gzbuffer(gz, 1u << 18); /* big reads: fewer system calls and inflate restarts */

    /* A plain file needs exactly its size (+1 to see the end); a gzip one grows by doubling. */
    size_t cap = (st.st_size > 0 ? (size_t)st.st_size : 0) + 4096, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        gzclose(gz);
        return ml__fail(ML_ENOMEM, "%s: cannot allocate %zu bytes", path, cap);
    }
    int got;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            unsigned char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                free(buf);
                gzclose(gz);
                return ml__fail(ML_ENOMEM, "%s: cannot allocate %zu bytes", path, ncap);
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - len;
        if (want > (1u << 30))
            want = 1u << 30;
        got = gzread(gz, buf + len, (unsigned)want);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(gz, &zerr);
    int rc = ML_OK;
    if (zerr == Z_ERRNO || (got < 0 && zerr == Z_OK))
        rc = ml__fail(ML_EIO, "%s: cannot read: %s", path, strerror(errno));
    else if (zerr == Z_BUF_ERROR)
        rc = ml__fail(ML_EFORMAT,
                      "%s: truncated gzip stream: it ends after %zu decompressed bytes, "
                      "without its end and checksum",
                      path, len);
    else if (zerr == Z_MEM_ERROR)
        rc = ml__fail(ML_ENOMEM, "%s: out of memory while decompressing", path);
    else if (zerr != Z_OK)
        rc = ml__fail(ML_EFORMAT, "%s: corrupt gzip data: %s", path, zlib_message(zmsg));
    gzclose(gz);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *n_out = len;
    return ML_OK;
}

/* ---- IDX ---- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const char *idx_type_name(int type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown type";
    }
}

static const char *dims_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%lld", i ? "x" : "", (long long)shape[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

int ml_idx_parse(ml_tensor_t *out, const void *buf, size_t n, const char *name)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = buf;
    if (!name)
        name = "(memory)";
    if (n == 0)
        return ml__fail(ML_EFORMAT, "%s: empty file, expected an IDX header", name);
    if (n < 4 || !p)
        return ml__fail(ML_EFORMAT, "%s: %zu bytes, too short for an IDX magic number (4 bytes)",
                        name, n);
    if (p[0] != 0 || p[1] != 0)
        return ml__fail(ML_EFORMAT,
                        "%s: not an IDX file: magic number 0x%08x, expected 0x000008NN "
                        "(two zero bytes, type 0x08, NN dimensions)",
                        name, (unsigned)be32(p));
    if (p[2] != 0x08)
        return ml__fail(ML_EFORMAT,
                        "%s: IDX element type 0x%02x (%s) is not supported, only unsigned bytes "
                        "(0x08)",
                        name, p[2], idx_type_name(p[2]));
    int ndim = p[3];
    if (ndim < 1 || ndim > ML_MAX_DIMS)
        return ml__fail(ML_EFORMAT, "%s: IDX file has %d dimensions, 1 to %d are supported", name,
                        ndim, ML_MAX_DIMS);
    size_t header = (size_t)4 + (size_t)4 * (size_t)ndim;
    if (n < header)
        return ml__fail(ML_EFORMAT,
                        "%s: truncated header: %d dimensions need %zu header bytes, the file "
                        "holds %zu",
                        name, ndim, header, n);
    int64_t shape[ML_MAX_DIMS];
    for (int i = 0; i < ndim; i++)
        shape[i] = (int64_t)be32(p + 4 + (size_t)4 * (size_t)i);
    /* The product of the non-zero sizes stays below 2^62 (the tensor's strides are such
     * products, even when another size is 0); total = the product of all sizes. */
    uint64_t nonzero = 1, total = 1;
    int huge = 0;
    for (int i = 0; i < ndim && !huge; i++) {
        uint64_t s = (uint64_t)shape[i];
        if (s != 0 && nonzero > (UINT64_C(1) << 62) / s)
            huge = 1;
        else if (s != 0)
            nonzero *= s;
        total = s == 0 ? 0 : total;
    }
    total = total == 0 ? 0 : nonzero;
    size_t avail = n - header;
    char dims[96];
    if (huge)
        return ml__fail(ML_EFORMAT,
                        "%s: header sizes %s multiply to more than 2^62 elements, the file holds "
                        "%zu bytes of data",
                        name, dims_str(dims, sizeof dims, ndim, shape), avail);
    if (total > avail)
        return ml__fail(ML_EFORMAT,
                        "%s: header says %s = %llu bytes of data, the file holds %zu (truncated, "
                        "or a wrong size in the header)",
                        name, dims_str(dims, sizeof dims, ndim, shape), (unsigned long long)total,
                        avail);
    if (total < avail)
        return ml__fail(ML_EFORMAT,
                        "%s: header says %s = %llu bytes of data, the file holds %zu (%zu bytes "
                        "too many)",
                        name, dims_str(dims, sizeof dims, ndim, shape), (unsigned long long)total,
                        avail, avail - (size_t)total);
    int rc = ml_tensor_new(out, ndim, shape);
    if (rc)
        return ml__fail(rc, "%s: %s", name, ml_errmsg());
    const unsigned char *src = p + header;
    float *dst = out->data;
    for (size_t i = 0; i < avail; i++) /* vectorizes: 16 bytes to floats per step */
        dst[i] = (float)src[i];
    return ML_OK;
}

int ml_idx_read(ml_tensor_t *out, const char *path)
{
    memset(out, 0, sizeof *out);
    if (!path)
        return ml__fail(ML_EARG, "idx: no path");
    unsigned char *buf;
    size_t n;
    int rc = read_all(path, &buf, &n);
    if (rc)
        return rc;
    rc = ml_idx_parse(out, buf, n, path);
    free(buf);
    return rc;
}

int ml_idx_check_labels(const ml_tensor_t *labels, int64_t classes, const char *name)
{
    if (!name)
        name = "(labels)";
    if (!labels || labels->ndim != 1 || (labels->shape[0] > 0 && !labels->data))
        return ml__fail(ML_EARG, "%s: labels must be one-dimensional (N), got %d dimensions",
                        name, labels ? labels->ndim : 0);
    if (classes < 1)
        return ml__fail(ML_EARG, "%s: %lld classes, expected at least 1", name,
                        (long long)classes);
    for (int64_t i = 0; i < labels->shape[0]; i++) {
        float v = *ml_tensor_at(labels, &i);
        if (!(v >= 0.0f && v < (float)classes && v == floorf(v)))
            return ml__fail(ML_EFORMAT, "%s: label %g of item %lld is outside 0..%lld", name,
                            (double)v, (long long)i + 1, (long long)classes - 1);
    }
    return ML_OK;
}

/* ---- CSV ---- */

typedef struct {
    const char *s;
    size_t n;
} span_t;

typedef struct {
    span_t *v;
    size_t n, cap;
} spans_t;

typedef struct {
    float *v;
    size_t n, cap;
} floats_t;

static int spans_push(spans_t *a, const char *s, size_t n)
{
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 64;
        span_t *nv = realloc(a->v, ncap * sizeof *nv);
        if (!nv)
            return ML_ENOMEM;
        a->v = nv;
        a->cap = ncap;
    }
    a->v[a->n].s = s;
    a->v[a->n].n = n;
    a->n++;
    return ML_OK;
}

static int floats_push(floats_t *a, float x)
{
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 4096;
        float *nv = ncap < SIZE_MAX / sizeof *nv ? realloc(a->v, ncap * sizeof *nv) : NULL;
        if (!nv)
            return ML_ENOMEM;
        a->v = nv;
        a->cap = ncap;
    }
    a->v[a->n++] = x;
    return ML_OK;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* A field without its surrounding blanks and one pair of double quotes. */
static span_t clean_field(const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    return (span_t){s, n};
}

/* Fields of the line [s, e) into *out (reset first); a blank line has none. */
static int split_line(spans_t *out, const char *s, const char *e, char delim)
{
    out->n = 0;
    const char *q = s;
    while (q < e && is_blank(*q))
        q++;
    if (q == e)
        return ML_OK;
    if (delim == ' ') {
        for (;;) {
            while (q < e && is_blank(*q))
                q++;
            if (q == e)
                return ML_OK;
            const char *f = q;
            while (q < e && !is_blank(*q))
                q++;
            span_t c = clean_field(f, q);
            if (spans_push(out, c.s, c.n))
                return ML_ENOMEM;
        }
    }
    q = s;
    for (;;) {
        const char *d = memchr(q, delim, (size_t)(e - q));
        span_t c = clean_field(q, d ? d : e);
        if (spans_push(out, c.s, c.n))
            return ML_ENOMEM;
        if (!d)
            return ML_OK;
        q = d + 1;
    }
}

/* A field for a message: at most 40 bytes, non-printable bytes as '?'. */
static const char *show_field(char *buf, size_t cap, span_t f)
{
    size_t n = f.n < cap - 4 ? f.n : cap - 4;
    if (n > 40)
        n = 40;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)f.s[i];
        buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (n < f.n) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

static int equal_nocase(span_t f, const char *word)
{
    size_t n = strlen(word);
    if (f.n != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = f.s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != word[i])
            return 0;
    }
    return 1;
}

typedef enum { NUM_OK, NUM_MISSING, NUM_BAD, NUM_NONFINITE, NUM_RANGE, NUM_LONG } num_t;

static num_t parse_number(span_t f, float *out)
{
    if (f.n == 0 || equal_nocase(f, "na") || equal_nocase(f, "n/a") || equal_nocase(f, "nan"))
        return NUM_MISSING;
    char tmp[256]; /* strtod needs a terminated string; fields longer than this are no numbers */
    if (f.n >= sizeof tmp)
        return NUM_LONG;
    memcpy(tmp, f.s, f.n);
    tmp[f.n] = '\0';
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp + f.n || end == tmp)
        return NUM_BAD;
    if (!isfinite(d))
        return NUM_NONFINITE;
    if (fabs(d) > (double)FLT_MAX)
        return NUM_RANGE;
    *out = (float)d;
    return NUM_OK;
}

typedef struct {
    const char *name;
    const ml_csv_options_t *o;
    spans_t fields;
    floats_t vals;
    size_t ncols;      /* fields per row, from the first data row */
    long first_line;   /* line of the first data row */
    int64_t rows, dropped;
} csv_t;

/* One data row (its fields in c->fields) appended to c->vals. */
static int csv_row(csv_t *c, long line)
{
    size_t nf = c->fields.n;
    if (c->ncols == 0) {
        c->ncols = nf;
        c->first_line = line;
    } else if (nf != c->ncols) {
        return ml__fail(ML_EFORMAT, "%s:%ld: row has %zu field%s, expected %zu (as on line %ld)",
                        c->name, line, nf, nf == 1 ? "" : "s", c->ncols, c->first_line);
    }
    size_t start = c->vals.n;
    int drop = 0;
    char shown[64];
    for (size_t j = 0; j < nf; j++) {
        span_t f = c->fields.v[j];
        float v = 0.0f;
        switch (parse_number(f, &v)) {
        case NUM_OK:
            break;
        case NUM_MISSING:
            if (c->o->missing == ML_CSV_MISSING_ERROR)
                return ml__fail(ML_EFORMAT,
                                "%s:%ld: field %zu is missing (%s%s%s); pass missing = nan or drop "
                                "to accept missing values",
                                c->name, line, j + 1, f.n ? "'" : "empty",
                                f.n ? show_field(shown, sizeof shown, f) : "", f.n ? "'" : "");
            if (c->o->missing == ML_CSV_MISSING_DROP)
                drop = 1;
            v = NAN;
            break;
        case NUM_NONFINITE:
            return ml__fail(ML_EFORMAT, "%s:%ld: field %zu '%s' is not a finite number", c->name,
                            line, j + 1, show_field(shown, sizeof shown, f));
        case NUM_RANGE:
            return ml__fail(ML_EFORMAT, "%s:%ld: field %zu '%s' is out of the float32 range",
                            c->name, line, j + 1, show_field(shown, sizeof shown, f));
        case NUM_LONG:
        case NUM_BAD:
            return ml__fail(ML_EFORMAT, "%s:%ld: field %zu '%s' is not a number", c->name, line,
                            j + 1, show_field(shown, sizeof shown, f));
        }
        if (floats_push(&c->vals, v))
            return ml__fail(ML_ENOMEM, "%s:%ld: out of memory", c->name, line);
    }
    if (drop) {
        c->vals.n = start;
        c->dropped++;
    } else {
        c->rows++;
    }
    return ML_OK;
}

/* The 0-based column of the label, or -1 for none; header is the last header line's fields. */
static int csv_label(csv_t *c, const spans_t *header, long header_line, long *label)
{
    const ml_csv_options_t *o = c->o;
    *label = -1;
    if (o->label_name) {
        for (size_t j = 0; j < header->n; j++) {
            if (header->v[j].n == strlen(o->label_name) &&
                memcmp(header->v[j].s, o->label_name, header->v[j].n) == 0) {
                if (j >= c->ncols)
                    return ml__fail(ML_EFORMAT,
                                    "%s:%ld: label column '%s' is column %zu of the header, "
                                    "but the rows have %zu fields",
                                    c->name, header_line, o->label_name, j + 1, c->ncols);
                *label = (long)j;
                return ML_OK;
            }
        }
        char names[256], shown[64];
        size_t used = 0;
        names[0] = '\0';
        for (size_t j = 0; j < header->n && used + 48 < sizeof names; j++) {
            int w = snprintf(names + used, sizeof names - used, "%s%s", j ? ", " : "",
                             show_field(shown, sizeof shown, header->v[j]));
            if (w < 0)
                break;
            used += (size_t)w;
        }
        return ml__fail(ML_EFORMAT, "%s:%ld: no column named '%s' in the header (%s)", c->name,
                        header_line, o->label_name, names);
    }
    long k = o->label_column, nc = (long)c->ncols;
    if (k == 0)
        return ML_OK;
    if (k > nc || k < -nc)
        return ml__fail(ML_EARG, "%s: label column %ld is out of range: the rows have %ld fields",
                        c->name, k, nc);
    *label = k > 0 ? k - 1 : nc + k;
    return ML_OK;
}

static int csv_parse(csv_t *c, ml_tensor_t *x, ml_tensor_t *y, const char *buf, size_t n)
{
    const ml_csv_options_t *o = c->o;
    char delim = o->delimiter ? o->delimiter : ',';
    if (delim == '"' || delim == '\n' || delim == '\r')
        return ml__fail(ML_EARG, "%s: the delimiter cannot be a quote or a line break", c->name);
    if (o->header_lines < 0)
        return ml__fail(ML_EARG, "%s: %d header lines", c->name, o->header_lines);
    if ((int)o->missing < 0 || o->missing > ML_CSV_MISSING_DROP)
        return ml__fail(ML_EARG, "%s: unknown missing-value mode %d", c->name, (int)o->missing);
    if (o->label_name && o->header_lines < 1)
        return ml__fail(ML_EARG, "%s: a label column by name ('%s') needs a header line", c->name,
                        o->label_name);
    if (n == 0 || !buf)
        return ml__fail(ML_EFORMAT, "%s: empty file, expected CSV rows", c->name);

    spans_t header = {0};
    long line = 0, header_line = 0;
    const char *p = buf, *end = buf + n;
    int rc = ML_OK;
    while (p < end && rc == ML_OK) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if (le > p && le[-1] == '\r')
            le--;
        line++;
        if (line <= o->header_lines) {
            if (line == o->header_lines && o->label_name) {
                header_line = line;
                if (split_line(&header, p, le, delim))
                    rc = ml__fail(ML_ENOMEM, "%s:%ld: out of memory", c->name, line);
            }
        } else if (split_line(&c->fields, p, le, delim)) {
            rc = ml__fail(ML_ENOMEM, "%s:%ld: out of memory", c->name, line);
        } else if (c->fields.n > 0) {
            rc = csv_row(c, line);
        }
        p = eol ? eol + 1 : end;
    }
    if (rc == ML_OK && line < o->header_lines)
        rc = ml__fail(ML_EFORMAT, "%s: %ld line%s, fewer than the %d header lines", c->name, line,
                      line == 1 ? "" : "s", o->header_lines);
    else if (rc == ML_OK && c->ncols == 0)
        rc = ml__fail(ML_EFORMAT, "%s: no data rows%s", c->name,
                      o->header_lines ? " after the header" : "");
    else if (rc == ML_OK && c->rows == 0)
        rc = ml__fail(ML_EFORMAT, "%s: no rows left: all %lld rows have missing values", c->name,
                      (long long)c->dropped);
    long label = -1;
    if (rc == ML_OK)
        rc = csv_label(c, &header, header_line, &label);
    free(header.v);
    if (rc)
        return rc;

    size_t nc = c->ncols, d = label >= 0 ? nc - 1 : nc;
    int64_t xs[2] = {c->rows, (int64_t)d}, ys[1] = {c->rows};
    if ((rc = ml_tensor_new(x, 2, xs)) != ML_OK ||
        (label >= 0 && (rc = ml_tensor_new(y, 1, ys)) != ML_OK)) {
        ml_tensor_free(x);
        return ml__fail(rc, "%s: %s", c->name, ml_errmsg());
    }
    const float *v = c->vals.v;
    float *xo = x->data;
    for (int64_t r = 0; r < c->rows; r++, v += nc) {
        if (label < 0) {
            memcpy(xo, v, nc * sizeof *v);
            xo += nc;
            continue;
        }
        for (size_t j = 0; j < nc; j++) {
            if ((long)j == label)
                y->data[r] = v[j];
            else
                *xo++ = v[j];
        }
    }
    return ML_OK;
}

int ml_csv_parse(ml_tensor_t *x, ml_tensor_t *y, const void *buf, size_t n, const char *name,
                 const ml_csv_options_t *opts)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    static const ml_csv_options_t defaults = {0};
    csv_t c = {.name = name ? name : "(memory)", .o = opts ? opts : &defaults};
    int rc = csv_parse(&c, x, y, buf, n);
    free(c.fields.v);
    free(c.vals.v);
    return rc;
}

int ml_csv_read(ml_tensor_t *x, ml_tensor_t *y, const char *path, const ml_csv_options_t *opts)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    if (!path)
        return ml__fail(ML_EARG, "csv: no path");
    unsigned char *buf;
    size_t n;
    int rc = read_all(path, &buf, &n);
    if (rc)
        return rc;
    rc = ml_csv_parse(x, y, buf, n, path, opts);
    free(buf);
    return rc;
}

/* ---- text ---- */

void ml_vocab_build(ml_vocab_t *v, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    unsigned char seen[256] = {0};
    for (size_t i = 0; i < n; i++)
        seen[p[i]] = 1;
    v->size = 0;
    for (int b = 0; b < 256; b++) {
        v->id[b] = -1;
        if (seen[b]) {
            v->id[b] = (int16_t)v->size;
            v->chars[v->size++] = (unsigned char)b;
        }
    }
}

int ml_vocab_from_chars(ml_vocab_t *v, const void *chars, size_t n)
{
    const unsigned char *p = chars;
    if (n > 256)
        return ml__fail(ML_EARG, "vocabulary: %zu characters, at most 256", n);
    for (int b = 0; b < 256; b++)
        v->id[b] = -1;
    v->size = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && p[i] <= p[i - 1])
            return ml__fail(ML_EARG,
                            "vocabulary: characters must be distinct and in increasing byte "
                            "order; byte %zu (0x%02x) follows 0x%02x",
                            i + 1, p[i], p[i - 1]);
        v->id[p[i]] = (int16_t)i;
        v->chars[i] = p[i];
    }
    v->size = (int)n;
    return ML_OK;
}

int ml_vocab_encode(ml_tensor_t *ids, const ml_vocab_t *v, const void *buf, size_t n)
{
    memset(ids, 0, sizeof *ids);
    const unsigned char *p = buf;
    for (size_t i = 0; i < n; i++)
        if (v->id[p[i]] < 0)
            return ml__fail(ML_EARG, "byte %zu (0x%02x) is not in the vocabulary", i + 1,
                            p[i]);
    int64_t shape[1] = {(int64_t)n};
    int rc = ml_tensor_new(ids, 1, shape);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        ids->data[i] = (float)v->id[p[i]];
    return ML_OK;
}

int ml_vocab_decode(char *out, const ml_vocab_t *v, const ml_tensor_t *ids)
{
    int64_t n = ml_tensor_numel(ids);
    int64_t idx[ML_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        float f = *ml_tensor_at(ids, idx);
        if (!(f >= 0.0f && f < (float)v->size) || f != floorf(f))
            return ml__fail(ML_EARG, "element %lld is %g, not an id in 0..%d",
                            (long long)i + 1, (double)f, v->size - 1);
        out[i] = (char)v->chars[(int)f];
        for (int d = ids->ndim - 1; d >= 0; d--) {
            if (++idx[d] < ids->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return ML_OK;
}

int ml_text_parse(ml_tensor_t *ids, ml_vocab_t *vocab, const void *buf, size_t n,
                  const char *name)
{
    memset(ids, 0, sizeof *ids);
    vocab->size = 0;
    if (!name)
        name = "(memory)";
    if (n == 0 || !buf)
        return ml__fail(ML_EFORMAT, "%s: empty file, no text", name);
    ml_vocab_build(vocab, buf, n);
    int rc = ml_vocab_encode(ids, vocab, buf, n);
    if (rc)
        return ml__fail(rc, "%s: %s", name, ml_errmsg());
    return ML_OK;
}

int ml_text_read(ml_tensor_t *ids, ml_vocab_t *vocab, const char *path)
{
    memset(ids, 0, sizeof *ids);
    vocab->size = 0;
    if (!path)
        return ml__fail(ML_EARG, "text: no path");
    unsigned char *buf;
    size_t n;
    int rc = read_all(path, &buf, &n);
    if (rc)
        return rc;
    rc = ml_text_parse(ids, vocab, buf, n, path);
    free(buf);
    return rc;
}
