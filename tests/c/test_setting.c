/* `--set key=value` (setting.h): each kind of value with the type Lua's tonumber gives it
 * (decimal and hex integers, wrapping hex, int64 limits, floats, inf, hex floats, spaces,
 * text with n/N, embedded NUL, booleans), and the key rules with their error message. The
 * fuzz target fuzz_setting checks the same against the Lua code this replaced. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/setting.h"

static ml_setting_t value(const char *s, size_t n)
{
    ml_setting_t v;
    ml_setting_value(&v, s, n);
    return v;
}
#define V(s) value(s, sizeof(s) - 1)

static int is_int(ml_setting_t v, int64_t i) { return v.kind == ML_SETTING_INTEGER && v.integer == i; }
static int is_num(ml_setting_t v, double d) { return v.kind == ML_SETTING_NUMBER && v.number == d; }
static int is_str(ml_setting_t v, const char *s, size_t n)
{
    return v.kind == ML_SETTING_STRING && v.text_len == n && memcmp(v.text, s, n) == 0;
}

static void test_values(void)
{
    CHECK(V("true").kind == ML_SETTING_BOOLEAN && V("true").boolean == 1);
    CHECK(V("false").kind == ML_SETTING_BOOLEAN && V("false").boolean == 0);
    CHECK(is_str(V("True"), "True", 4));
    CHECK(is_int(V("3"), 3) && is_int(V("-3"), -3) && is_int(V("+3"), 3) && is_int(V("007"), 7));
    CHECK(is_int(V(" 5\t"), 5));           /* spaces around a numeral are allowed */
    CHECK(is_int(V("0x10"), 16) && is_int(V("-0X1f"), -31));
    CHECK(is_int(V("0x1ffffffffffffffff"), -1)); /* hex wraps modulo 2^64 */
    CHECK(is_int(V("9223372036854775807"), INT64_MAX));
    CHECK(is_int(V("-9223372036854775808"), INT64_MIN));
    CHECK(is_int(V("-9223372036854775809"), INT64_MIN)); /* its float is -2^63 exactly */
    CHECK(is_num(V("9223372036854775808"), 0x1p63));
    CHECK(is_num(V("99999999999999999999"), 1e20));
    CHECK(is_num(V("0.5"), 0.5) && is_num(V("1e-3"), 1e-3) && is_num(V(".5"), 0.5));
    CHECK(is_num(V("1."), 1.0) && is_num(V("-0.0"), 0.0) && signbit(V("-0.0").number));
    CHECK(is_num(V("1e999"), INFINITY) && is_num(V("-1e999"), -INFINITY));
    CHECK(is_num(V("0x1p4"), 16.0) && is_num(V("0x1.8p1"), 3.0));
    CHECK(is_str(V("nan"), "nan", 3) && is_str(V("inf"), "inf", 3) &&
          is_str(V("-Infinity"), "-Infinity", 9));
    CHECK(is_str(V(""), "", 0) && is_str(V("."), ".", 1) && is_str(V("-"), "-", 1));
    CHECK(is_str(V("0x"), "0x", 2) && is_str(V("1e"), "1e", 2) && is_str(V("1 2"), "1 2", 3));
    CHECK(is_str(V("1_000"), "1_000", 5) && is_str(V("adam"), "adam", 4));
    CHECK(is_str(V("3\0"), "3\0", 2)); /* an embedded NUL: not a number */
    char longnum[300];
    memset(longnum, '1', sizeof longnum);
    longnum[0] = '0';
    longnum[1] = '.';
    CHECK(V(longnum).kind == ML_SETTING_NUMBER); /* longer than the small buffer */
}

static void test_parse(void)
{
    ml_setting_t s;
    const char *a = "lr=0.1";
    CHECK(ml_setting_parse(&s, a, strlen(a)) == ML_OK);
    CHECK(s.key == a && s.key_len == 2 && is_num(s, 0.1));
    a = "_cell2=a=b";
    CHECK(ml_setting_parse(&s, a, strlen(a)) == ML_OK);
    CHECK(s.key_len == 6 && is_str(s, "a=b", 3));
    a = "k=";
    CHECK(ml_setting_parse(&s, a, 2) == ML_OK && is_str(s, "", 0));
    CHECK_ERR(ml_setting_parse(&s, "epochs", 6), ML_EARG,
              "--set epochs: expected key=value with a name for key");
    CHECK_ERR(ml_setting_parse(&s, "1x=2", 4), ML_EARG, "--set 1x=2: expected key=value");
    CHECK_ERR(ml_setting_parse(&s, "a-b=2", 5), ML_EARG, "--set a-b=2");
    CHECK_ERR(ml_setting_parse(&s, "=2", 2), ML_EARG, "--set =2");
    CHECK_ERR(ml_setting_parse(&s, "", 0), ML_EARG, "expected key=value");
    CHECK_ERR(ml_setting_parse(&s, " a=2", 4), ML_EARG, "--set  a=2");
}

int main(void)
{
    test_values();
    test_parse();
    return check_report("setting");
}
