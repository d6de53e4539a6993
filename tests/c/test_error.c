/* The error table and the thread-local message. */
#include <string.h>

#include "check.h"
#include "moonlab/error.h"

int main(void)
{
    for (int code = 0; code < ML_NERRORS; code++)
        CHECK_MSG(ml_strerror(code)[0] != '\0', "code %d has no text", code);
    CHECK(strcmp(ml_strerror(ML_ESHAPE), "shape mismatch") == 0);
    CHECK(strcmp(ml_strerror(-1), "unknown error") == 0);
    CHECK(strcmp(ml_strerror(ML_NERRORS), "unknown error") == 0);

    CHECK(ml__fail(ML_EARG, "x is %d", 3) == ML_EARG);
    CHECK(strcmp(ml_errmsg(), "x is 3") == 0);
    /* A message that wraps the previous one (the layer-prefix pattern) keeps it intact. */
    ml__fail(ML_ESHAPE, "forward: input is (5,4), the model expects (B,3)");
    ml__fail(ML_ESHAPE, "layer %d (%s): %s", 2, "linear", ml_errmsg());
    CHECK(strcmp(ml_errmsg(), "layer 2 (linear): forward: input is (5,4), the model expects (B,3)") == 0);
    /* Long messages are cut, never overflow. */
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ml__fail(ML_EIO, "%s", big);
    CHECK(strlen(ml_errmsg()) < sizeof big - 1 && strlen(ml_errmsg()) > 500);
    return check_report("test_error");
}
