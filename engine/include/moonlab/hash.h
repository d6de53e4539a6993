/* SHA-256, for recording which script produced a result. */
#ifndef MOONLAB_HASH_H
#define MOONLAB_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct ml_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t nbuf;
} ml_sha256_t;

void ml_sha256_init(ml_sha256_t *s);
void ml_sha256_update(ml_sha256_t *s, const void *data, size_t n);
/* Lower-case hex digest into hex[65] (NUL-terminated); s is re-initialised afterwards. */
void ml_sha256_final(ml_sha256_t *s, char hex[65]);

#endif
