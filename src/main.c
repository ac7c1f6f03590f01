/*
 * muleteer: the binary. Parses the command line and config files and runs
 * the stack (master, web workers, mules). The job application plugs in
 * here through an mt_app_t; until it does, the stack runs on its own:
 * /api/health, /api/stack, static files, and mules with no handlers.
 */
#include "muleteer.h"

int main(int argc, char **argv)
{
    return mt_main(argc, argv, NULL);
}
