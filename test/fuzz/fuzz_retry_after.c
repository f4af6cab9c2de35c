/* libFuzzer target for a push endpoint's Retry-After header: any bytes give an error or a wait
 * between 0 and a day, and never a read past the value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sequin/push.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so that ASan sees any read past the value's end. */
    char *value = malloc(size ? size : 1);
    if (!value)
        return 0;
    memcpy(value, data, size);
    long long ms = -1;
    if (sq_push_retry_after(value, size, 784111777, &ms) == 0 && (ms < 0 || ms > 86400000LL))
        abort();
    free(value);
    return 0;
}
