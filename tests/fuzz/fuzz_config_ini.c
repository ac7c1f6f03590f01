/*
 * fuzz_config_ini: mt_config_load_ini() on arbitrary files (galaxy.ini,
 * uwsgi.ini). The checks are in fuzz.c (fuzz_config_check): a clear
 * one-line error naming the file, or only validated values. Each input is
 * read twice: for [muleteer] / [uwsgi], and as "--ini FILE:galaxy"
 * (whose [galaxy] then replaces them); [jobs] feeds a small application
 * section either way.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_config_check(data, size, FUZZ_CONFIG_INI, NULL);
    fuzz_config_check(data, size, FUZZ_CONFIG_INI, "galaxy");
    return 0;
}
