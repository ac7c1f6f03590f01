/*
 * fuzz_config_yaml: mt_config_load_yaml() on arbitrary files (galaxy.yml
 * with repeated keys, the "stack: workers:" pools form, anchors, several
 * documents, broken syntax). The checks are in fuzz.c
 * (fuzz_config_check): a clear one-line error naming the file, or only
 * validated values and well-formed pools.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_config_check(data, size, FUZZ_CONFIG_YAML, NULL);
    return 0;
}
