/* SHA-256 against the FIPS 180-4 example vectors (NIST CSRC "Examples with Intermediate
 * Values", SHA256.pdf and SHA2_Additional.pdf). */
#include <string.h>

#include "check.h"
#include "moonlab/hash.h"

static void digest(const void *data, size_t n, char hex[65])
{
    ml_sha256_t s;
    ml_sha256_init(&s);
    ml_sha256_update(&s, data, n);
    ml_sha256_final(&s, hex);
}

#define CHECK_DIGEST(got, want) CHECK_MSG(strcmp(got, want) == 0, "got %s\nwant %s", got, want)

static void test_short_vectors(void)
{
    char hex[65];
    digest("abc", 3, hex);
    CHECK_DIGEST(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    digest("", 0, hex);
    CHECK_DIGEST(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    digest(NULL, 0, hex);
    CHECK_DIGEST(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* 448 bits: the padding no longer fits in the last block, so a second one is hashed. */
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    digest(m448, strlen(m448), hex);
    CHECK_DIGEST(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(strlen(hex) == 64);
}

/* One million 'a' fed in chunks of odd, changing sizes so that every buffer-boundary case
 * (partial fill, exact fill, whole blocks from the caller) is crossed many times. */
static void test_million_a(void)
{
    static char a[1000];
    memset(a, 'a', sizeof a);
    static const size_t sizes[] = {1, 63, 64, 65, 127, 7, 129, 0, 333, 999};
    ml_sha256_t s;
    ml_sha256_init(&s);
    size_t left = 1000000, k = 0;
    while (left > 0) {
        size_t n = sizes[k++ % (sizeof sizes / sizeof sizes[0])];
        if (n > left)
            n = left;
        ml_sha256_update(&s, a, n);
        left -= n;
    }
    char hex[65];
    ml_sha256_final(&s, hex);
    CHECK_DIGEST(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Lengths either side of the padding boundaries (55/56 bytes: length field fits in the last
 * block or not; 64: exactly one block). Expected digests from coreutils, regenerate with
 *   for n in 55 56 63 64 119 120; do head -c $n /dev/zero | tr '\0' a | sha256sum; done */
static void test_padding_boundaries(void)
{
    static const struct { size_t n; const char *hex; } want[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char a[120], hex[65];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        digest(a, want[i].n, hex);
        CHECK_MSG(strcmp(hex, want[i].hex) == 0, "%zu x 'a': got %s, want %s", want[i].n, hex,
                  want[i].hex);
    }
}

/* Lengths around the 55/56/64-byte padding boundaries: one-shot and byte-at-a-time updates
 * must agree (the byte-wise path never uses the whole-block shortcut). */
static void test_chunking_agrees(void)
{
    unsigned char msg[200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 37 + 11);
    int bad = 0;
    for (size_t n = 0; n <= sizeof msg; n++) {
        char one[65], bytes[65];
        digest(msg, n, one);
        ml_sha256_t s;
        ml_sha256_init(&s);
        for (size_t i = 0; i < n; i++)
            ml_sha256_update(&s, msg + i, 1);
        ml_sha256_final(&s, bytes);
        if (strcmp(one, bytes) != 0) {
            fprintf(stderr, "length %zu: %s vs %s\n", n, one, bytes);
            bad++;
        }
    }
    CHECK(bad == 0);
}

/* final leaves a fresh state, so hashing again gives the empty-string digest. */
static void test_reuse_after_final(void)
{
    ml_sha256_t s;
    char hex[65];
    ml_sha256_init(&s);
    ml_sha256_update(&s, "abc", 3);
    ml_sha256_final(&s, hex);
    ml_sha256_update(&s, "abc", 3);
    ml_sha256_final(&s, hex);
    CHECK_DIGEST(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    test_short_vectors();
    test_million_a();
    test_padding_boundaries();
    test_chunking_agrees();
    test_reuse_after_final();
    return check_report("test_hash");
}
