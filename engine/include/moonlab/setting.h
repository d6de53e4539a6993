/* Command-line settings: `--set key=value`. The value's type comes from how it looks, exactly
 * as Lua's tonumber reads it (the CLI used to do this in Lua; scripts see the same values):
 *   "true" / "false"                              a boolean
 *   an integer numeral: decimal digits that fit int64 (with an optional sign), or hex 0x...
 *     (wrapping modulo 2^64, as Lua does); spaces around it are allowed
 *   any other numeral strtod reads whole: "0.5", "1e-3", "1e999" (inf), "0x1p4" (16.0);
 *     text containing n or N ("nan", "inf") is never a number
 *   anything else                                 the text itself (a string)
 * A decimal integer numeral too large for int64 is a float, except one whose float value is
 * exactly -2^63, which is the integer -2^63 (Lua's math.tointeger of it). */
#ifndef MOONLAB_SETTING_H
#define MOONLAB_SETTING_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ML_SETTING_STRING = 0,
    ML_SETTING_BOOLEAN,
    ML_SETTING_INTEGER,
    ML_SETTING_NUMBER,
} ml_setting_kind_t;

typedef struct ml_setting {
    const char *key;    /* into the argument; NULL from ml_setting_value */
    size_t key_len;
    const char *text;   /* the value as written, into the argument */
    size_t text_len;
    ml_setting_kind_t kind;
    int boolean;
    int64_t integer;
    double number;
} ml_setting_t;

/* Reads the value text[0..n) (any bytes; an embedded NUL makes it a string). Never fails. */
void ml_setting_value(ml_setting_t *out, const char *text, size_t n);

/* Splits `key=value` at the first '=' and reads the value. The key must be a name: an ASCII
 * letter or '_', then letters, digits or '_'. Otherwise ML_EARG with the message
 * `--set ARG: expected key=value with a name for key` (ARG shown up to 200 bytes). */
int ml_setting_parse(ml_setting_t *out, const char *arg, size_t n);

#endif
