/*
 * replay: run a fuzz driver over files, without libFuzzer (like sqlite's
 * fuzzcheck).
 *
 *   build/tests/fuzz_http tests/fuzz/corpus/http [FILE|DIR]...
 *
 * Linked with one driver's LLVMFuzzerTestOneInput(), built by gcc (and by
 * `make asan` under ASan + UBSan), it feeds every regular file of every
 * directory given (sorted by name, not recursive; names starting with '.'
 * skipped), and every file named, to the driver: the checked-in corpus
 * becomes a regression test that needs no clang. Each input is passed in
 * a buffer of exactly its size, so a read past its end is caught under
 * ASan as it is under libFuzzer.
 *
 * Exit status 0 when every input ran; a driver check, a crash or a
 * sanitizer report ends the process, after the name of the input at fault
 * is written to stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#if defined(__SANITIZE_ADDRESS__)
#define REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REPLAY_ASAN 1
#endif
#endif
#ifdef REPLAY_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

static char current[4096]; /* the input being run, for the crash report */

static void say_current(void)
{
    static const char prefix[] = "replay: failed on input ";
    if (current[0] == '\0')
        return;
    (void)!write(2, prefix, sizeof prefix - 1);
    (void)!write(2, current, strlen(current));
    (void)!write(2, "\n", 1);
}

static void crash_cb(int sig)
{
    say_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Read path whole into a buffer of exactly its size. Returns 0 or -errno. */
static int read_file(const char *path, uint8_t **data_out, size_t *size_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    FUZZ_CHECK(data != NULL, "out of memory");
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO; /* shrank while read */
            free(data);
            close(fd);
            return -err;
        }
        got += (size_t)n;
    }
    close(fd);
    *data_out = data;
    *size_out = size;
    return 0;
}

static int run_file(const char *path)
{
    uint8_t *data = NULL;
    size_t size = 0;
    int rc = read_file(path, &data, &size);
    if (rc < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(-rc));
        return -1;
    }
    snprintf(current, sizeof current, "%s", path);
    LLVMFuzzerTestOneInput(data, size);
    current[0] = '\0';
    free(data);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_hidden(const struct dirent *ent)
{
    return ent->d_name[0] != '.';
}

/* Run every regular file of dir. Returns the count run, or -1. */
static int run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, not_hidden, by_name);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int count = 0, failed = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
            failed = 1;
        } else if (S_ISREG(st.st_mode)) {
            if (run_file(path) < 0)
                failed = 1;
            else
                count++;
        }
        free(names[i]);
    }
    free(names);
    return failed ? -1 : count;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    static const int signals[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        signal(signals[i], crash_cb);
#ifdef REPLAY_ASAN
    __sanitizer_set_death_callback(say_current);
#endif

    int total = 0, status = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int count;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            count = run_dir(argv[i]);
        else
            count = run_file(argv[i]) < 0 ? -1 : 1;
        if (count < 0)
            status = 1;
        else
            total += count;
    }
    if (total == 0 && status == 0) {
        fprintf(stderr, "replay: no input found\n");
        status = 1;
    }
    printf("replay: %d input%s ok\n", total, total == 1 ? "" : "s");
    return status;
}
