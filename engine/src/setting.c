/* `--set key=value` (setting.h): Lua 5.4's tonumber rules (lobject.c: l_str2int, l_str2d),
 * reimplemented on byte ranges so that the engine and its fuzz target need no Lua. */
#include "moonlab/setting.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex_value(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Lua's l_str2int on the NUL-terminated s: 1 and *out for an integer numeral. *overflow is
 * set when s is a decimal numeral too large for int64 (Lua then reads it as a float). */
static int str2int(const char *s, int64_t *out, int *overflow)
{
    uint64_t a = 0;
    int empty = 1, neg = 0;
    *overflow = 0;
    while (is_space(*s))
        s++;
    if (*s == '-') {
        neg = 1;
        s++;
    } else if (*s == '+') {
        s++;
    }
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        for (; hex_value(*s) >= 0; s++) {
            a = a * 16 + (uint64_t)hex_value(*s); /* wraps, as in Lua */
            empty = 0;
        }
    } else {
        const uint64_t maxby10 = (uint64_t)INT64_MAX / 10;
        const int maxlastd = (int)((uint64_t)INT64_MAX % 10);
        for (; is_digit(*s); s++) {
            int d = *s - '0';
            if (a >= maxby10 && (a > maxby10 || d > maxlastd + neg)) {
                *overflow = 1;
                return 0;
            }
            a = a * 10 + (uint64_t)d;
            empty = 0;
        }
    }
    while (is_space(*s))
        s++;
    if (empty || *s != '\0')
        return 0;
    *out = (int64_t)(neg ? 0u - a : a);
    return 1;
}

/* Lua's l_str2d: strtod over the whole string (spaces around allowed), never inf/nan text. */
static int str2d(const char *s, double *out)
{
    const char *special = strpbrk(s, ".xXnN");
    if (special && (*special == 'n' || *special == 'N'))
        return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s)
        return 0;
    while (is_space(*end))
        end++;
    if (*end != '\0')
        return 0;
    *out = v;
    return 1;
}

/* A string of only an optional sign and decimal digits (Lua's "^[-+]?%d+$"). */
static int plain_integer(const char *s, size_t n)
{
    size_t i = n > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (i == n)
        return 0;
    for (; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

void ml_setting_value(ml_setting_t *out, const char *text, size_t n)
{
    memset(out, 0, sizeof *out);
    out->text = text;
    out->text_len = n;
    out->kind = ML_SETTING_STRING;
    if (n == 4 && memcmp(text, "true", 4) == 0) {
        out->kind = ML_SETTING_BOOLEAN;
        out->boolean = 1;
        return;
    }
    if (n == 5 && memcmp(text, "false", 5) == 0) {
        out->kind = ML_SETTING_BOOLEAN;
        return;
    }
    if (n == 0 || memchr(text, '\0', n))
        return; /* Lua's tonumber refuses "" and strings with an embedded NUL */
    char small[64];
    char *s = n < sizeof small ? small : malloc(n + 1);
    if (!s)
        return; /* out of memory: left a string, as the text it is */
    memcpy(s, text, n);
    s[n] = '\0';
    int64_t i;
    int overflow;
    double d;
    if (str2int(s, &i, &overflow)) {
        out->kind = ML_SETTING_INTEGER;
        out->integer = i;
    } else if (str2d(s, &d)) {
        /* run.parse_value: a plain decimal numeral whose float value is an exact int64 is an
         * integer (only -2^63 gets here: others fit l_str2int or exceed the int64 range). */
        if (overflow && plain_integer(text, n) && d == -0x1p63) {
            out->kind = ML_SETTING_INTEGER;
            out->integer = INT64_MIN;
        } else {
            out->kind = ML_SETTING_NUMBER;
            out->number = d;
        }
    }
    if (s != small)
        free(s);
}

int ml_setting_parse(ml_setting_t *out, const char *arg, size_t n)
{
    memset(out, 0, sizeof *out);
    size_t k = 0;
    int name = n > 0 && ((arg[0] >= 'a' && arg[0] <= 'z') || (arg[0] >= 'A' && arg[0] <= 'Z') ||
                         arg[0] == '_');
    if (name) {
        for (k = 1; k < n && arg[k] != '='; k++) {
            char c = arg[k];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_')) {
                name = 0;
                break;
            }
        }
    }
    if (!name || k >= n)
        return ml__fail(ML_EARG, "--set %.*s: expected key=value with a name for key",
                        (int)(n < 200 ? n : 200), arg);
    ml_setting_value(out, arg + k + 1, n - k - 1);
    out->key = arg;
    out->key_len = k;
    return ML_OK;
}
