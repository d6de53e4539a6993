/* Readers for real data sets: IDX files (MNIST, Fashion-MNIST), numeric CSV, and text as
 * character ids.
 *
 * Every reader comes in two forms: `ml_<format>_read(..., path)` reads a file, plain or
 * gzip-compressed (zlib detects which), and `ml_<format>_parse(..., buf, n, name)` parses bytes
 * already in memory (the file readers call it; so do the fuzz targets in tests/fuzz). `name`
 * only labels error messages and may be any text, typically the path.
 *
 * Results are new owning float32 tensors that the caller frees with ml_tensor_free. On failure
 * every output tensor is left zeroed (nothing to free) and the call returns
 *   ML_EIO      the file cannot be opened or read (missing, a directory, a read error),
 *   ML_EFORMAT  the contents are malformed (bad magic, a size that does not match the data, a
 *               truncated or corrupt gzip stream, a ragged CSV row, a field that is not a number),
 *   ML_ENOMEM   an allocation failed,
 *   ML_EARG     an option is out of range,
 * with a message (ml_errmsg) that starts with the file's name, and for CSV and text content
 * its line: `train.csv:341: row has 5 fields, expected 6`. Nothing is ever read past a buffer. */
#ifndef MOONLAB_DATASETS_H
#define MOONLAB_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "moonlab/tensor.h"

/* ---- IDX (http://yann.lecun.com/exdb/mnist/ layout) ----
 * A 4-byte magic number (two zero bytes, the element type, the number of dimensions), one
 * big-endian uint32 size per dimension, then the elements in row-major order. Only unsigned
 * bytes (type 0x08) with 1 to 4 dimensions are accepted, and the data must be exactly as long
 * as the sizes say. Labels (idx1) give (N), images (idx3) give (N, 28, 28); values are the raw
 * bytes 0..255 as float32. */
int ml_idx_read(ml_tensor_t *out, const char *path);
int ml_idx_parse(ml_tensor_t *out, const void *buf, size_t n, const char *name);

/* Checks that every value of a labels tensor (N), as ml_idx_read gives it, is a class index
 * 0..classes-1. ML_EFORMAT names the first item outside, counted from 1, and the file:
 *   `t10k-labels-idx1-ubyte.gz: label 12 of item 3 is outside 0..9`;
 * ML_EARG for labels that are not one-dimensional or classes < 1. `name` labels messages. */
int ml_idx_check_labels(const ml_tensor_t *labels, int64_t classes, const char *name);

/* ---- numeric CSV ----
 * One row per line, fields separated by `delimiter`. Around each field, spaces, tabs and one
 * pair of double quotes are dropped ("YEAR" names the column YEAR; quoted fields cannot contain
 * the delimiter). Lines are counted from 1 in messages, header and blank lines included; blank
 * lines are skipped; "\r\n" endings are accepted. Every data row must have as many fields as
 * the first one. A value is anything strtod reads whole that is finite and fits a float; the
 * missing markers are an empty field, NA, N/A and NaN (any case). Columns are numbered from 1,
 * as in the messages. */
typedef enum {
    ML_CSV_MISSING_ERROR = 0, /* a missing value is an error naming line and field (default) */
    ML_CSV_MISSING_NAN,       /* a missing value becomes NaN */
    ML_CSV_MISSING_DROP,      /* a row with a missing value is left out */
} ml_csv_missing_t;

/* Options; a zeroed struct (or NULL) means: comma-separated, no header, no label column,
 * missing values are errors. */
typedef struct ml_csv_options {
    char delimiter;           /* ',' when 0; ' ' means any run of spaces and tabs (leading and
                                 trailing ones ignored), as in whitespace-separated tables.
                                 Not '"', '\n' or '\r'. */
    int header_lines;         /* lines skipped before the data (>= 0) */
    int label_column;         /* the label's column, from 1; negative counts from the end
                                 (-1 = last); 0 = no label column */
    const char *label_name;   /* or the label's column by name, looked up in the last header
                                 line (needs header_lines >= 1); overrides label_column */
    ml_csv_missing_t missing;
} ml_csv_options_t;

/* x (N, D): every column but the label's; y (N): the label column, or left zeroed (no buffer)
 * when there is no label column. At least one data row is required. */
int ml_csv_read(ml_tensor_t *x, ml_tensor_t *y, const char *path, const ml_csv_options_t *opts);
int ml_csv_parse(ml_tensor_t *x, ml_tensor_t *y, const void *buf, size_t n, const char *name,
                 const ml_csv_options_t *opts);

/* ---- text as character ids ----
 * The vocabulary is the set of distinct bytes of a text, sorted by byte value: id k (from 0)
 * is the k-th smallest byte present. Ids are float32 so that they feed cross_entropy (class
 * indices 0..C-1) and tensors directly. */
typedef struct ml_vocab {
    int size;                 /* number of distinct bytes, 0..256 */
    unsigned char chars[256]; /* id -> byte, increasing */
    int16_t id[256];          /* byte -> id, -1 for bytes not in the vocabulary */
} ml_vocab_t;

/* The vocabulary of buf[0..n). */
void ml_vocab_build(ml_vocab_t *v, const void *buf, size_t n);
/* The vocabulary whose characters, in id order, are chars[0..n) (as ml_vocab_t.chars, e.g.
 * kept from an earlier run); they must be strictly increasing (ML_EARG otherwise). */
int ml_vocab_from_chars(ml_vocab_t *v, const void *chars, size_t n);
/* ids (n): the id of each byte of buf[0..n); a byte outside the vocabulary is ML_EARG naming
 * its position. */
int ml_vocab_encode(ml_tensor_t *ids, const ml_vocab_t *v, const void *buf, size_t n);
/* out[0..numel(ids)): the byte of each id, in row-major order (ids may be any view). Every id
 * must be an integer in 0..size-1 (ML_EARG otherwise). out is not NUL-terminated. */
int ml_vocab_decode(char *out, const ml_vocab_t *v, const ml_tensor_t *ids);

/* ids (N) for the N bytes of a text file (or buffer), with its vocabulary. An empty text is
 * ML_EFORMAT. */
int ml_text_read(ml_tensor_t *ids, ml_vocab_t *vocab, const char *path);
int ml_text_parse(ml_tensor_t *ids, ml_vocab_t *vocab, const void *buf, size_t n,
                  const char *name);

#endif
