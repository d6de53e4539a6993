/* Real-data readers (datasets.h) on small files this test writes itself, plain and gzip'd:
 * IDX labels and images of 1 to 4 dimensions; CSV with headers, labels by index and name,
 * whitespace and other delimiters, CRLF, blank lines, missing values as errors, NaN or dropped
 * rows; text as character ids with encode/decode. And every bad input: a header that promises
 * more or fewer bytes than the file holds, truncated and corrupt gzip, wrong magic, unsupported
 * IDX types, ragged rows, non-numbers, missing files, empty files, directories. Each error
 * checks the code and that the message names the file (and for CSV the line and field). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/datasets.h"
#include "moonlab/error.h"

static char dir[64];
static char paths[64][128];
static int npaths;

/* dir/name, remembered for removal at the end. */
static const char *path_of(const char *name)
{
    char *p = paths[npaths++ % 64];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static const char *write_plain(const char *name, const void *data, size_t n)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, n, f) == n);
        fclose(f);
    }
    return p;
}

static const char *write_gz(const char *name, const void *data, size_t n)
{
    const char *p = path_of(name);
    gzFile g = gzopen(p, "wb9");
    CHECK(g != NULL);
    if (g) {
        CHECK(gzwrite(g, data, (unsigned)n) == (int)n);
        gzclose(g);
    }
    return p;
}

/* The bytes of a file (malloc'd). */
static unsigned char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    *n = 0;
    if (!f)
        return NULL;
    unsigned char *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

/* An IDX file image: magic, sizes, then bytes 0, 7, 14, ... (mod 256), plus `extra` bytes
 * beyond what the sizes promise (negative: fewer). */
static size_t make_idx(unsigned char *buf, int ndim, const uint32_t *sizes, long extra)
{
    size_t n = 0, total = 1;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = 0x08;
    buf[n++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[n++] = (unsigned char)(sizes[i] >> 24);
        buf[n++] = (unsigned char)(sizes[i] >> 16);
        buf[n++] = (unsigned char)(sizes[i] >> 8);
        buf[n++] = (unsigned char)sizes[i];
        total *= sizes[i];
    }
    size_t data = (size_t)((long)total + extra);
    for (size_t i = 0; i < data; i++)
        buf[n++] = (unsigned char)(i * 7);
    return n;
}

static int zeroed(const ml_tensor_t *t) { return t->data == NULL && t->ndim == 0 && !t->owns; }

static void test_idx_ok(void)
{
    unsigned char buf[16384];
    uint32_t lab[1] = {5};
    size_t n = make_idx(buf, 1, lab, 0);
    ml_tensor_t t;
    const char *p = write_plain("labels-idx1-ubyte", buf, n);
    CHECK(ml_idx_read(&t, p) == ML_OK);
    CHECK(t.ndim == 1 && t.shape[0] == 5 && t.owns);
    CHECK(t.data && t.data[0] == 0.0f && t.data[4] == 28.0f);
    ml_tensor_free(&t);

    /* images (3, 4, 5), gzip'd: every byte value 0..255 comes through exactly */
    uint32_t img[3] = {3, 4, 5};
    n = make_idx(buf, 3, img, 0);
    p = write_gz("images-idx3-ubyte.gz", buf, n);
    CHECK(ml_idx_read(&t, p) == ML_OK);
    CHECK(t.ndim == 3 && t.shape[0] == 3 && t.shape[1] == 4 && t.shape[2] == 5);
    int exact = 1;
    for (int i = 0; i < 60; i++)
        exact &= t.data[i] == (float)(unsigned char)(i * 7);
    CHECK(exact);
    CHECK(t.data[37] == (float)((37 * 7) % 256) && t.data[37] > 0.0f);
    ml_tensor_free(&t);

    /* 2 and 4 dimensions, from memory */
    uint32_t two[2] = {2, 3}, four[4] = {2, 1, 3, 2};
    n = make_idx(buf, 2, two, 0);
    CHECK(ml_idx_parse(&t, buf, n, "two") == ML_OK && t.ndim == 2 && t.shape[1] == 3);
    ml_tensor_free(&t);
    n = make_idx(buf, 4, four, 0);
    CHECK(ml_idx_parse(&t, buf, n, "four") == ML_OK && t.ndim == 4 && t.shape[3] == 2 &&
          ml_tensor_numel(&t) == 12);
    ml_tensor_free(&t);

    /* a size of 0: an empty tensor, not an error */
    uint32_t empty[2] = {0, 28};
    n = make_idx(buf, 2, empty, 0);
    CHECK(ml_idx_parse(&t, buf, n, "none") == ML_OK && t.shape[0] == 0 && t.shape[1] == 28);
    ml_tensor_free(&t);
}

/* Labels outside the class range: the first one is named, with its item (from 1) and file. */
static void test_idx_labels(void)
{
    /* a labels file holding 3, 9, 12, 0, 200 (built byte by byte: make_idx counts by 7s) */
    unsigned char buf[13] = {0, 0, 0x08, 1, 0, 0, 0, 5, 3, 9, 12, 0, 200};
    ml_tensor_t t;
    CHECK(ml_idx_parse(&t, buf, sizeof buf, "bad-labels-idx1-ubyte") == ML_OK);
    CHECK_ERR(ml_idx_check_labels(&t, 10, "bad-labels-idx1-ubyte"), ML_EFORMAT,
              "bad-labels-idx1-ubyte: label 12 of item 3 is outside 0..9");
    CHECK(ml_idx_check_labels(&t, 201, "all") == ML_OK);
    CHECK_ERR(ml_idx_check_labels(&t, 200, "n"), ML_EFORMAT, "n: label 200 of item 5 is outside 0..199");
    /* the last item alone outside: the loop reaches the end */
    buf[10] = 1;
    ml_tensor_free(&t);
    CHECK(ml_idx_parse(&t, buf, sizeof buf, "x") == ML_OK);
    CHECK_ERR(ml_idx_check_labels(&t, 10, "x"), ML_EFORMAT, "label 200 of item 5");
    /* a view with a stride: item numbers follow the view */
    ml_tensor_t v = t;
    v.shape[0] = 2;
    v.owns = 0;
    v.stride[0] = 4; /* items 1 and 5: 3 and 200 */
    CHECK_ERR(ml_idx_check_labels(&v, 10, "v"), ML_EFORMAT, "label 200 of item 2");
    CHECK_ERR(ml_idx_check_labels(&t, 0, "x"), ML_EARG, "0 classes");
    ml_tensor_free(&t);

    /* images are not labels */
    uint32_t img[3] = {2, 2, 2};
    unsigned char ibuf[64];
    size_t n = make_idx(ibuf, 3, img, 0);
    CHECK(ml_idx_parse(&t, ibuf, n, "img") == ML_OK);
    CHECK_ERR(ml_idx_check_labels(&t, 10, "img"), ML_EARG, "one-dimensional", "3 dimensions");
    ml_tensor_free(&t);
}

static void test_idx_errors(void)
{
    unsigned char buf[16384];
    ml_tensor_t t;
    uint32_t img[3] = {3, 2, 2};

    /* the header promises 12 bytes, the file holds 10 (too short) or 14 (too long) */
    size_t n = make_idx(buf, 3, img, -2);
    const char *p = write_plain("short-idx3-ubyte", buf, n);
    CHECK_ERR(ml_idx_read(&t, p), ML_EFORMAT, p, "header says 3x2x2 = 12 bytes", "holds 10");
    CHECK(zeroed(&t));
    n = make_idx(buf, 3, img, 2);
    p = write_gz("long-idx3-ubyte.gz", buf, n);
    CHECK_ERR(ml_idx_read(&t, p), ML_EFORMAT, p, "12 bytes", "holds 14", "2 bytes too many");
    CHECK(zeroed(&t));

    /* sizes whose product overflows: reported, nothing allocated */
    static const unsigned char huge[20] = {0, 0, 8, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2};
    memcpy(buf, huge, sizeof huge);
    n = sizeof huge;
    CHECK_ERR(ml_idx_parse(&t, buf, n, "huge.idx"), ML_EFORMAT, "huge.idx", "more than 2^62",
              "holds 0");

    /* a size of 0 beside sizes whose product overflows the strides (found by fuzz_idx):
     * refused, where it used to reach ml_tensor_new */
    static const unsigned char zero_huge[20] = {0, 0, 8, 4, 0, 0, 0, 0, 0, 1, 0x34, 0,
                                                1, 2, 3, 0x84, 0x60, 5, 6, 7};
    CHECK_ERR(ml_idx_parse(&t, zero_huge, sizeof zero_huge, "zh.idx"), ML_EFORMAT, "zh.idx",
              "0x78848x16909188x1610941959", "more than 2^62");

    /* wrong magic, unsupported types, dimension counts, a truncated header */
    unsigned char bad[32] = {0x1f, 0x8c, 0x08, 0x01, 0, 0, 0, 1, 9};
    CHECK_ERR(ml_idx_parse(&t, bad, 9, "bad.idx"), ML_EFORMAT, "bad.idx", "not an IDX file",
              "0x1f8c0801");
    unsigned char flt[12] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0x80, 0x3f};
    CHECK_ERR(ml_idx_parse(&t, flt, 12, "f.idx"), ML_EFORMAT, "f.idx", "0x0d", "float32",
              "only unsigned bytes");
    unsigned char d0[4] = {0, 0, 8, 0}, d5[4] = {0, 0, 8, 5};
    CHECK_ERR(ml_idx_parse(&t, d0, 4, "d0.idx"), ML_EFORMAT, "d0.idx", "0 dimensions");
    CHECK_ERR(ml_idx_parse(&t, d5, 4, "d5.idx"), ML_EFORMAT, "d5.idx", "5 dimensions");
    unsigned char hdr[10] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0};
    CHECK_ERR(ml_idx_parse(&t, hdr, 10, "h.idx"), ML_EFORMAT, "h.idx", "truncated header",
              "16 header bytes", "holds 10");
    CHECK_ERR(ml_idx_parse(&t, hdr, 3, "tiny.idx"), ML_EFORMAT, "tiny.idx", "3 bytes");
    CHECK(zeroed(&t));

    /* empty file, missing file, a directory */
    p = write_plain("empty-idx", "", 0);
    CHECK_ERR(ml_idx_read(&t, p), ML_EFORMAT, p, "empty file");
    p = path_of("no-such-file.gz");
    CHECK_ERR(ml_idx_read(&t, p), ML_EIO, p, "cannot open", "No such file");
    CHECK(zeroed(&t));
    CHECK_ERR(ml_idx_read(&t, dir), ML_EIO, dir, "directory");

    /* truncated gzip: cut inside the deflate data and just before the 8-byte trailer */
    uint32_t big[3] = {10, 28, 28};
    n = make_idx(buf, 3, big, 0);
    p = write_gz("full.gz", buf, n);
    size_t gn;
    unsigned char *gz = slurp(p, &gn);
    CHECK(gz != NULL && gn > 40);
    if (gz) {
        p = write_plain("cut-middle.gz", gz, gn / 2);
        CHECK_ERR(ml_idx_read(&t, p), ML_EFORMAT, p, "truncated gzip");
        p = write_plain("cut-trailer.gz", gz, gn - 4);
        CHECK_ERR(ml_idx_read(&t, p), ML_EFORMAT, p, "truncated gzip");
        CHECK(zeroed(&t));
        /* corrupt: a flipped byte in the deflate data, or a wrong CRC in the trailer */
        gz[gn / 2] ^= 0x55;
        p = write_plain("corrupt.gz", gz, gn);
        CHECK_ERR(ml_idx_read(&t, p), ML_EFORMAT, p, "gzip");
        gz[gn / 2] ^= 0x55;
        gz[gn - 6] ^= 0x01;
        p = write_plain("badcrc.gz", gz, gn);
        CHECK_ERR(ml_idx_read(&t, p), ML_EFORMAT, p, "corrupt gzip");
        free(gz);
    }
}

/* x (r, c) row-major equals want. */
static int same(const ml_tensor_t *x, int64_t r, int64_t c, const float *want)
{
    if (x->ndim != 2 || x->shape[0] != r || x->shape[1] != c)
        return 0;
    for (int64_t i = 0; i < r * c; i++)
        if (!(x->data[i] == want[i] || (isnan(x->data[i]) && isnan(want[i]))))
            return 0;
    return 1;
}

static void test_csv_ok(void)
{
    ml_tensor_t x, y;
    const char *text = "a,\"b\",label\n1,2,0\n3.5, -4e1 ,1\n";
    const char *p = write_plain("t.csv", text, strlen(text));
    ml_csv_options_t o = {.header_lines = 1, .label_column = -1};
    CHECK(ml_csv_read(&x, &y, p, &o) == ML_OK);
    static const float x1[] = {1, 2, 3.5f, -40};
    CHECK(same(&x, 2, 2, x1));
    CHECK(y.ndim == 1 && y.shape[0] == 2 && y.data[0] == 0 && y.data[1] == 1);
    ml_tensor_free(&x);
    ml_tensor_free(&y);

    /* the same by name (quotes dropped), by positive index, and gzip'd */
    o = (ml_csv_options_t){.header_lines = 1, .label_name = "b"};
    p = write_gz("t.csv.gz", text, strlen(text));
    CHECK(ml_csv_read(&x, &y, p, &o) == ML_OK);
    static const float x2[] = {1, 0, 3.5f, 1};
    CHECK(same(&x, 2, 2, x2) && y.data[0] == 2 && y.data[1] == -40);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    o = (ml_csv_options_t){.header_lines = 1, .label_column = 1};
    CHECK(ml_csv_read(&x, &y, p, &o) == ML_OK && y.data[1] == 3.5f && x.shape[1] == 2);
    ml_tensor_free(&x);
    ml_tensor_free(&y);

    /* no label: y stays zeroed; NULL options are the defaults (comma, no header) */
    const char *nolab = "1,2\n3,4\n";
    CHECK(ml_csv_parse(&x, &y, nolab, strlen(nolab), "n.csv", NULL) == ML_OK);
    static const float x3[] = {1, 2, 3, 4};
    CHECK(same(&x, 2, 2, x3) && zeroed(&y));
    ml_tensor_free(&x);

    /* whitespace-separated (sklearn's diabetes files), CRLF, blank lines, no final newline */
    const char *ws = "  59 2\t32.1 \r\n\r\n48   1 21.6\n   \n72 2 30.5";
    o = (ml_csv_options_t){.delimiter = ' ', .label_column = 2};
    CHECK(ml_csv_parse(&x, &y, ws, strlen(ws), "ws.csv", &o) == ML_OK);
    static const float x4[] = {59, 32.1f, 48, 21.6f, 72, 30.5f};
    CHECK(same(&x, 3, 2, x4) && y.data[0] == 2 && y.data[1] == 1 && y.data[2] == 2);
    ml_tensor_free(&x);
    ml_tensor_free(&y);

    /* another delimiter */
    const char *semi = "1;2\n3;4\n";
    o = (ml_csv_options_t){.delimiter = ';'};
    CHECK(ml_csv_parse(&x, &y, semi, strlen(semi), "s.csv", &o) == ML_OK && same(&x, 2, 2, x3));
    ml_tensor_free(&x);

    /* missing values: NaN, or the row dropped */
    const char *miss = "d,v\n1,10\n2,\n3,NA\n4,nan\n5,N/A\n6,60\n";
    o = (ml_csv_options_t){.header_lines = 1, .label_name = "d", .missing = ML_CSV_MISSING_NAN};
    CHECK(ml_csv_parse(&x, &y, miss, strlen(miss), "m.csv", &o) == ML_OK);
    CHECK(x.shape[0] == 6 && x.data[0] == 10 && isnan(x.data[1]) && isnan(x.data[2]) &&
          isnan(x.data[3]) && isnan(x.data[4]) && x.data[5] == 60 && y.data[5] == 6);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    o.missing = ML_CSV_MISSING_DROP;
    CHECK(ml_csv_parse(&x, &y, miss, strlen(miss), "m.csv", &o) == ML_OK);
    CHECK(x.shape[0] == 2 && x.data[1] == 60 && y.data[0] == 1 && y.data[1] == 6);
    ml_tensor_free(&x);
    ml_tensor_free(&y);

    /* the parser stops at n: digits right after the buffer are not read */
    const char *over = "1,2\n3,45555";
    CHECK(ml_csv_parse(&x, &y, over, 7, "o.csv", NULL) == ML_OK && same(&x, 2, 2, x3));
    ml_tensor_free(&x);

    /* a label-only file gives x (N, 0) */
    o = (ml_csv_options_t){.label_column = 1};
    CHECK(ml_csv_parse(&x, &y, "7\n8\n", 4, "l.csv", &o) == ML_OK && x.shape[0] == 2 &&
          x.shape[1] == 0 && y.data[1] == 8);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
}

static void test_csv_errors(void)
{
    ml_tensor_t x, y;
    ml_csv_options_t h1 = {.header_lines = 1, .label_column = -1};
    const char *ragged = "a,b,c\n1,2,3\n4,5,6\n7,8\n";
    const char *p = write_plain("train.csv", ragged, strlen(ragged));
    CHECK_ERR(ml_csv_read(&x, &y, p, &h1), ML_EFORMAT, p,
              "train.csv:4: row has 2 fields, expected 3 (as on line 2)");
    CHECK(zeroed(&x) && zeroed(&y));
    const char *wide = "1,2\n3,4,5\n";
    CHECK_ERR(ml_csv_parse(&x, &y, wide, strlen(wide), "w.csv", NULL), ML_EFORMAT,
              "w.csv:2: row has 3 fields, expected 2");

    /* line numbers count the header and blank lines */
    const char *nan = "a,b,c\n\n1,2,3\n4,abc,6\n";
    p = write_gz("x.csv.gz", nan, strlen(nan));
    CHECK_ERR(ml_csv_read(&x, &y, p, &h1), ML_EFORMAT, p,
              "x.csv.gz:4: field 2 'abc' is not a number");
    const char *trail = "1,2x\n";
    CHECK_ERR(ml_csv_parse(&x, &y, trail, strlen(trail), "t.csv", NULL), ML_EFORMAT,
              "t.csv:1: field 2 '2x' is not a number");
    const char *inner = "1,\"2 3\"\n";
    CHECK_ERR(ml_csv_parse(&x, &y, inner, strlen(inner), "i.csv", NULL), ML_EFORMAT,
              "i.csv:1: field 2 '2 3' is not a number");
    const char *inf = "1,inf\n";
    CHECK_ERR(ml_csv_parse(&x, &y, inf, strlen(inf), "inf.csv", NULL), ML_EFORMAT,
              "inf.csv:1: field 2 'inf' is not a finite number");
    const char *big = "1e39,1\n";
    CHECK_ERR(ml_csv_parse(&x, &y, big, strlen(big), "big.csv", NULL), ML_EFORMAT,
              "big.csv:1: field 1 '1e39' is out of the float32 range");
    char longf[400];
    memset(longf, '1', sizeof longf);
    longf[sizeof longf - 1] = '\n';
    CHECK_ERR(ml_csv_parse(&x, &y, longf, sizeof longf, "long.csv", NULL), ML_EFORMAT,
              "long.csv:1: field 1 '1111", "...' is not a number");
    const char *binary = "1,\x01\xff\n";
    CHECK_ERR(ml_csv_parse(&x, &y, binary, strlen(binary), "bin.csv", NULL), ML_EFORMAT,
              "bin.csv:1: field 2 '?\?' is not a number");

    /* missing values are errors by default, named by line and field */
    const char *miss = "1,2\n3,\n";
    CHECK_ERR(ml_csv_parse(&x, &y, miss, strlen(miss), "m.csv", NULL), ML_EFORMAT,
              "m.csv:2: field 2 is missing (empty)");
    const char *na = "1,2\nNA,4\n";
    CHECK_ERR(ml_csv_parse(&x, &y, na, strlen(na), "na.csv", NULL), ML_EFORMAT,
              "na.csv:2: field 1 is missing ('NA')");
    ml_csv_options_t drop = {.missing = ML_CSV_MISSING_DROP};
    CHECK_ERR(ml_csv_parse(&x, &y, miss + 4, 3, "d.csv", &drop), ML_EFORMAT, "d.csv",
              "no rows left", "1 rows");

    /* labels that are not there */
    const char *hdr = "a,b\n1,2\n";
    ml_csv_options_t byname = {.header_lines = 1, .label_name = "c"};
    CHECK_ERR(ml_csv_parse(&x, &y, hdr, strlen(hdr), "h.csv", &byname), ML_EFORMAT,
              "h.csv:1: no column named 'c' in the header (a, b)");
    ml_csv_options_t far = {.label_column = 3};
    CHECK_ERR(ml_csv_parse(&x, &y, hdr + 4, 4, "f.csv", &far), ML_EARG, "f.csv",
              "label column 3 is out of range", "2 fields");
    far.label_column = -3;
    CHECK_ERR(ml_csv_parse(&x, &y, hdr + 4, 4, "f.csv", &far), ML_EARG, "label column -3");
    const char *wideh = "a,b,c\n1,2\n";
    ml_csv_options_t byc = {.header_lines = 1, .label_name = "c"};
    CHECK_ERR(ml_csv_parse(&x, &y, wideh, strlen(wideh), "wh.csv", &byc), ML_EFORMAT,
              "wh.csv:1: label column 'c' is column 3 of the header");

    /* empty, header only, fewer lines than the header, missing file */
    p = write_plain("empty.csv", "", 0);
    CHECK_ERR(ml_csv_read(&x, &y, p, NULL), ML_EFORMAT, p, "empty file");
    CHECK_ERR(ml_csv_parse(&x, &y, hdr, 4, "ho.csv", &h1), ML_EFORMAT, "ho.csv",
              "no data rows after the header");
    CHECK_ERR(ml_csv_parse(&x, &y, "\n \n", 3, "blank.csv", NULL), ML_EFORMAT, "blank.csv",
              "no data rows");
    ml_csv_options_t h3 = {.header_lines = 3};
    CHECK_ERR(ml_csv_parse(&x, &y, hdr, strlen(hdr), "few.csv", &h3), ML_EFORMAT, "few.csv",
              "2 lines, fewer than the 3 header lines");
    p = path_of("missing.csv");
    CHECK_ERR(ml_csv_read(&x, &y, p, NULL), ML_EIO, p, "No such file");
    CHECK(zeroed(&x) && zeroed(&y));

    /* options out of range */
    ml_csv_options_t q = {.delimiter = '"'};
    CHECK_ERR(ml_csv_parse(&x, &y, hdr, 4, "q.csv", &q), ML_EARG, "delimiter");
    ml_csv_options_t neg = {.header_lines = -1};
    CHECK_ERR(ml_csv_parse(&x, &y, hdr, 4, "n.csv", &neg), ML_EARG, "-1 header lines");
    ml_csv_options_t nohdr = {.label_name = "a"};
    CHECK_ERR(ml_csv_parse(&x, &y, hdr, 4, "nh.csv", &nohdr), ML_EARG, "needs a header line");
    ml_csv_options_t mode = {.missing = (ml_csv_missing_t)7};
    CHECK_ERR(ml_csv_parse(&x, &y, hdr, 4, "mm.csv", &mode), ML_EARG, "missing-value mode 7");
}

static void test_text(void)
{
    ml_tensor_t ids;
    ml_vocab_t v;
    const char *p = write_plain("hello.txt", "hello", 5);
    CHECK(ml_text_read(&ids, &v, p) == ML_OK);
    CHECK(v.size == 4 && memcmp(v.chars, "ehlo", 4) == 0);
    CHECK(v.id['e'] == 0 && v.id['o'] == 3 && v.id['a'] == -1);
    static const float want[5] = {1, 0, 2, 2, 3};
    CHECK(ids.ndim == 1 && ids.shape[0] == 5 && memcmp(ids.data, want, sizeof want) == 0);
    char out[8] = {0};
    CHECK(ml_vocab_decode(out, &v, &ids) == ML_OK && memcmp(out, "hello", 5) == 0);

    /* decode follows any strides: every other id of a view */
    ml_tensor_t view;
    CHECK(ml_tensor_slice(&view, &ids, 0, 0, 5, 2) == ML_OK);
    memset(out, 0, sizeof out);
    CHECK(ml_vocab_decode(out, &v, &view) == ML_OK && strcmp(out, "hlo") == 0);
    ml_tensor_free(&ids);

    /* gzip'd text with bytes above 0x7f (UTF-8): byte-level ids, sorted by byte value */
    const char *utf = "caf\xc3\xa9 caf\xc3\xa9\n";
    p = write_gz("utf.txt.gz", utf, strlen(utf));
    CHECK(ml_text_read(&ids, &v, p) == ML_OK && ids.shape[0] == (int64_t)strlen(utf));
    CHECK(v.size == 7 && v.chars[0] == '\n' && v.chars[1] == ' ' && v.chars[2] == 'a');
    CHECK(v.chars[5] == 0xa9 && v.chars[6] == 0xc3 && ids.data[3] == 6.0f);
    char round[32] = {0};
    CHECK(ml_vocab_decode(round, &v, &ids) == ML_OK && strcmp(round, utf) == 0);
    ml_tensor_free(&ids);

    /* a vocabulary kept as its characters, and encoding with it */
    ml_vocab_t w;
    CHECK(ml_vocab_from_chars(&w, "ehlo", 4) == ML_OK && w.size == 4 && w.id['l'] == 2);
    CHECK(ml_vocab_encode(&ids, &w, "hole", 4) == ML_OK && ids.data[0] == 1 && ids.data[3] == 0);
    ml_tensor_free(&ids);
    CHECK_ERR(ml_vocab_encode(&ids, &w, "help", 4), ML_EARG, "byte 4 (0x70)");
    CHECK(zeroed(&ids));
    CHECK_ERR(ml_vocab_from_chars(&w, "hel", 3), ML_EARG, "increasing", "byte 2");
    CHECK_ERR(ml_vocab_from_chars(&w, "ee", 2), ML_EARG, "distinct");

    /* decode refuses ids outside 0..size-1 and fractions */
    ml_tensor_t bad;
    new1(&bad, 3);
    bad.data[1] = 7;
    CHECK_ERR(ml_vocab_decode(out, &v, &bad), ML_EARG, "element 2 is 7", "0..6");
    bad.data[1] = 1.5f;
    CHECK_ERR(ml_vocab_decode(out, &v, &bad), ML_EARG, "element 2 is 1.5");
    bad.data[1] = -1;
    CHECK_ERR(ml_vocab_decode(out, &v, &bad), ML_EARG, "element 2 is -1");
    bad.data[1] = NAN;
    CHECK_ERR(ml_vocab_decode(out, &v, &bad), ML_EARG, "element 2 is nan");
    ml_tensor_free(&bad);

    /* empty, missing, truncated gzip */
    p = write_plain("empty.txt", "", 0);
    CHECK_ERR(ml_text_read(&ids, &v, p), ML_EFORMAT, p, "empty file");
    CHECK(zeroed(&ids) && v.size == 0);
    p = path_of("none.txt");
    CHECK_ERR(ml_text_read(&ids, &v, p), ML_EIO, p, "No such file");
    char lots[3000];
    for (size_t i = 0; i < sizeof lots; i++)
        lots[i] = (char)('a' + (i * 7919) % 26);
    p = write_gz("lots.txt.gz", lots, sizeof lots);
    size_t gn;
    unsigned char *gz = slurp(p, &gn);
    if (gz) {
        p = write_plain("lots-cut.txt.gz", gz, gn - 9);
        CHECK_ERR(ml_text_read(&ids, &v, p), ML_EFORMAT, p, "truncated gzip");
        free(gz);
    }
    CHECK(zeroed(&ids));
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/moonlab-datasets.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_idx_ok();
    test_idx_errors();
    test_idx_labels();
    test_csv_ok();
    test_csv_errors();
    test_text();
    for (int i = 0; i < npaths && i < 64; i++)
        remove(paths[i]);
    CHECK(rmdir(dir) == 0);
    return check_report("datasets");
}
