/* libFuzzer target: ml_text_parse on arbitrary bytes. A success must give one id per byte
 * and a vocabulary that decodes the ids back to the input; a failure (only an empty input)
 * must leave the ids zeroed with a message naming the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/datasets.h"
#include "moonlab/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ml_tensor_t ids;
    ml_vocab_t v;
    if (ml_text_parse(&ids, &v, data, size, "fuzz.txt") != ML_OK) {
        if (size != 0 || ids.data || strncmp(ml_errmsg(), "fuzz.txt", 8) != 0)
            abort();
        return 0;
    }
    char *back = malloc(size);
    if (!back || ids.ndim != 1 || (size_t)ids.shape[0] != size ||
        ml_vocab_decode(back, &v, &ids) != ML_OK || memcmp(back, data, size) != 0)
        abort();
    ml_vocab_t w; /* the vocabulary survives being kept as its characters */
    if (ml_vocab_from_chars(&w, v.chars, (size_t)v.size) != ML_OK ||
        memcmp(w.id, v.id, sizeof w.id) != 0)
        abort();
    free(back);
    ml_tensor_free(&ids);
    return 0;
}
