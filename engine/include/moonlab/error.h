/* moonlab error table: every engine function that can fail returns one of these codes and
 * leaves a human-readable message (shapes seen and expected) in a thread-local buffer. */
#ifndef MOONLAB_ERROR_H
#define MOONLAB_ERROR_H

typedef enum {
    ML_OK = 0,
    ML_ESHAPE,   /* tensor shapes do not fit together */
    ML_EARG,     /* an argument is out of range or of the wrong kind */
    ML_ENOMEM,   /* an allocation failed */
    ML_EIO,      /* a file could not be read or written */
    ML_ENAN,     /* a NaN or Inf appeared where a finite number is required */
    ML_ESTATE,   /* an object is used in a state that does not allow it */
    ML_EFORMAT,  /* a file's contents are not what they should be */
    ML_ESTORAGE, /* the file system refused a write: no space or quota left, read-only, or no
                  * permission; freeing space or fixing the directory and trying again helps */
    ML_NERRORS
} ml_status_t;

/* Short fixed text for a code ("shape mismatch", ...). Never NULL. */
const char *ml_strerror(int code);

/* The message of the last failure on this thread (empty if none). */
const char *ml_errmsg(void);

/* Record a failure message (printf-style) and return `code`; used by engine code as
 * `return ml__fail(ML_ESHAPE, "linear: x is (%lld,%lld), expected (B,%lld)", ...)`. */
int ml__fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
