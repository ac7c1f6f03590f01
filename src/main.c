/*
 * muleteer: the binary. Parses the command line and config files and runs
 * the stack (master, web workers, mules) with the job application, or one
 * standalone handler process (--attach-to-pool).
 */
#include "app/app.h"
#include "muleteer.h"

int main(int argc, char **argv)
{
    return mt_main(argc, argv, &mt_jobs_app);
}
