#include "moonlab/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const messages[ML_NERRORS] = {
    [ML_OK] = "no error",
    [ML_ESHAPE] = "shape mismatch",
    [ML_EARG] = "invalid argument",
    [ML_ENOMEM] = "out of memory",
    [ML_EIO] = "input/output error",
    [ML_ENAN] = "non-finite value",
    [ML_ESTATE] = "invalid state",
    [ML_EFORMAT] = "malformed file",
    [ML_ESTORAGE] = "storage full or not writable",
};

static _Thread_local char last_message[1024];

const char *ml_strerror(int code)
{
    if (code < 0 || code >= ML_NERRORS)
        return "unknown error";
    return messages[code];
}

const char *ml_errmsg(void)
{
    return last_message;
}

int ml__fail(int code, const char *fmt, ...)
{
    /* Callers prefix an earlier failure ("layer 2 (linear): %s", ml_errmsg()), so the
     * arguments may point into last_message: format aside, then copy. */
    char buf[sizeof last_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(last_message, buf, sizeof buf);
    return code;
}
