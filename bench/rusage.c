/*
 * rusage.c - runs a program and prints its resource use, measured by the
 * kernel for that process alone.
 *
 *   bench_rusage OUT_FILE PROGRAM [ARG...]
 *
 * Writes "exit=N utime_us=U stime_us=S maxrss_kib=M" to OUT_FILE once the
 * program ends, and exits with its status.  It exists because a child forked
 * from a large parent (python) inherits the parent's peak RSS in ru_maxrss;
 * forked from this small program the figure is the program's own.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct rusage ru;
    int status = 0;
    pid_t pid;
    FILE *f;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_rusage OUT_FILE PROGRAM [ARG...]\n");
        return 2;
    }
    pid = fork();
    if (pid < 0) {
        perror("bench_rusage: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("bench_rusage: exec");
        _exit(127);
    }
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("bench_rusage: wait4");
        return 2;
    }
    f = fopen(argv[1], "w");
    if (!f) {
        perror("bench_rusage: open");
        return 2;
    }
    fprintf(f, "exit=%d utime_us=%lld stime_us=%lld maxrss_kib=%ld\n",
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
            (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss);
    fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
