/* libFuzzer target: ml_idx_parse on arbitrary bytes. A success must give a tensor holding
 * exactly the bytes after the header; a failure must leave the tensor zeroed with a message
 * naming the input. Built with libFuzzer under MOONLAB_FUZZ (tests/fuzz/run.sh), and without
 * it as replay_idx, which feeds the corpus and regressions/ through the same function. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/datasets.h"
#include "moonlab/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ml_tensor_t t;
    if (ml_idx_parse(&t, data, size, "fuzz.idx") == ML_OK) {
        size_t header = 4 + 4 * (size_t)t.ndim;
        if (t.ndim < 1 || t.ndim > ML_MAX_DIMS || (size_t)ml_tensor_numel(&t) != size - header)
            abort();
        for (size_t i = 0; i < size - header; i++)
            if (t.data[i] != (float)data[header + i])
                abort();
        ml_tensor_free(&t);
    } else if (t.data || strncmp(ml_errmsg(), "fuzz.idx: ", 10) != 0) {
        abort();
    }
    return 0;
}
