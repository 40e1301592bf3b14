/*
 * replay_main.c - a main() for the fuzz harnesses when they are built
 * without libFuzzer (gcc, the ordinary build): every file named on the
 * command line, or every file in a directory named there, goes through
 * LLVMFuzzerTestOneInput once.  ctest runs each harness this way on its
 * corpus (spec/fuzz/<target>/), so every corpus file is replayed on every
 * run, with ASan/UBSan when the tree is built with them.  libFuzzer's own
 * main() replays the same way when given files.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path, unsigned *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long len;
    int rc = -1;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: %s: cannot size the file\n", path);
        goto fail;
    }
    /* +1: a zero-length file still gets a valid pointer. */
    if ((buf = malloc((size_t)len + 1)) == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        goto fail;
    }
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    (*n)++;
    rc = 0;
fail:
    free(buf);
    fclose(f);
    return rc;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int run_dir(const char *dir, unsigned *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL, path[4096];
    size_t count = 0, i;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char **grown;
        if (e->d_name[0] == '.')
            continue;
        if ((grown = realloc(names, (count + 1) * sizeof(*names))) == NULL ||
            (grown[count] = strdup(e->d_name)) == NULL) {
            if (grown != NULL)
                names = grown;
            fprintf(stderr, "replay: %s: out of memory\n", dir);
            rc = -1;
            goto fail;
        }
        names = grown;
        count++;
    }
    qsort(names, count, sizeof(*names), cmp);
    for (i = 0; i < count && rc == 0; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        rc = run_file(path, n);
    }
fail:
    for (i = 0; i < count; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned n = 0;
    struct stat st;

    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if ((S_ISDIR(st.st_mode) ? run_dir(argv[i], &n) : run_file(argv[i], &n)) != 0)
            return 1;
    }
    if (n == 0) {
        fprintf(stderr, "replay: no input files\n");
        return 1;
    }
    printf("replay: %u inputs, no crash\n", n);
    return 0;
}
