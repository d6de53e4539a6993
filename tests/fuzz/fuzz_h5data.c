/* libFuzzer target: ml_h5data_parse on arbitrary bytes, opened as an in-memory HDF5 file
 * image (HDF5's core driver). A success must give x with 1 to 4 dimensions, y and weights
 * (when present) with x's row count, weights with one dimension, and only finite values; a
 * failure must leave the result empty with a message naming the input. Datasets over 16 MB
 * are refused by the reader's size limit (a tiny file can declare a huge dataset).
 * What libhdf5 does with a damaged file's internal structures is the library's own parsing;
 * a crash inside it is reported as such (README: fuzzing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/h5data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ml_h5data_t d;
    ml_h5data_spec_t spec = {.max_bytes = (size_t)16 << 20};
    if (ml_h5data_parse(&d, data, size, "fuzz.h5", &spec) != ML_OK) {
        if (d.x.data || d.y.data || d.weights.data || d.attrs || d.nattrs ||
            strncmp(ml_errmsg(), "fuzz.h5", 7) != 0)
            abort();
        return 0;
    }
    int64_t n = d.x.shape[0];
    if (d.x.ndim < 1 || d.x.ndim > 4 || !ml_tensor_all_finite(&d.x))
        abort();
    if (d.y.data && (d.y.ndim < 1 || d.y.shape[0] != n || !ml_tensor_all_finite(&d.y)))
        abort();
    if (d.weights.data &&
        (d.weights.ndim != 1 || d.weights.shape[0] != n || !ml_tensor_all_finite(&d.weights)))
        abort();
    for (int i = 0; i < d.nattrs; i++)
        if (!d.attrs[i].name)
            abort();
    ml_h5data_free(&d);
    return 0;
}
