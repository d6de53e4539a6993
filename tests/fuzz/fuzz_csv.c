/* libFuzzer target: ml_csv_parse on arbitrary bytes. The first two bytes choose the options
 * (delimiter, header lines, label column, missing-value mode; label by name when a header is
 * read), the rest is the file. A success must give x (N, D) and y (N) or none that agree
 * with the options; a failure must leave both zeroed with a message naming the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/datasets.h"
#include "moonlab/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char delims[4] = {',', ' ', ';', '\t'};
    ml_csv_options_t o = {
        .delimiter = delims[data[0] & 3],
        .header_lines = (data[0] >> 2) & 3,
        .label_column = (int)(data[1] & 7) - 4, /* -4..3, 0 = none */
        .missing = (ml_csv_missing_t)((data[1] >> 3) % 3),
    };
    if ((data[1] & 0x40) && o.header_lines > 0)
        o.label_name = "y";
    ml_tensor_t x, y;
    int rc = ml_csv_parse(&x, &y, data + 2, size - 2, "fuzz.csv", &o);
    if (rc == ML_OK) {
        int labelled = o.label_name || o.label_column != 0;
        if (x.ndim != 2 || x.shape[0] < 1 ||
            (labelled && (y.ndim != 1 || y.shape[0] != x.shape[0])) || (!labelled && y.data))
            abort();
        if (o.missing != ML_CSV_MISSING_NAN && !ml_tensor_all_finite(&x))
            abort();
        ml_tensor_free(&x);
        ml_tensor_free(&y);
    } else if (x.data || y.data || strncmp(ml_errmsg(), "fuzz.csv", 8) != 0) {
        abort();
    }
    return 0;
}
