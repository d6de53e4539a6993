/* libFuzzer target: ml_idx_parse on arbitrary bytes. A success must give a tensor holding
 * exactly the bytes after the header (and, when it is one-dimensional, ml_idx_check_labels
 * must accept it as 10-class labels exactly when every byte is below 10); a failure must leave
 * the tensor zeroed with a message naming the input. Built with libFuzzer under MOONLAB_FUZZ (tests/fuzz/run.sh), and without
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
        int labels_ok = 1;
        for (size_t i = 0; i < size - header; i++) {
            if (t.data[i] != (float)data[header + i])
                abort();
            labels_ok &= data[header + i] < 10;
        }
        /* as a labels file of 10 classes: accepted exactly when every byte is 0..9 */
        if (t.ndim == 1) {
            int rc = ml_idx_check_labels(&t, 10, "fuzz.idx");
            if ((rc == ML_OK) != labels_ok ||
                (rc != ML_OK && strncmp(ml_errmsg(), "fuzz.idx: label ", 16) != 0))
                abort();
        }
        ml_tensor_free(&t);
    } else if (t.data || strncmp(ml_errmsg(), "fuzz.idx: ", 10) != 0) {
        abort();
    }
    return 0;
}
