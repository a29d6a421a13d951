/*
 * timeit: runs a command and appends one line to OUT: wall microseconds (CLOCK_MONOTONIC, from just
 * before fork to the child's reaping), user and system CPU microseconds and peak RSS in KiB (from
 * wait4's rusage), and the exit status.
 *
 *   timeit OUT COMMAND [ARG...]
 *
 * Under `chrt` the timer runs at the command's priority, so a loaded machine delays neither the start
 * nor the reaping, which a shell's clock around the command would include.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long us(struct timeval tv) { return tv.tv_sec * 1000000LL + tv.tv_usec; }

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: timeit OUT COMMAND [ARG...]\n");
        return 2;
    }
    FILE *out = fopen(argv[1], "a");
    if (!out) {
        perror(argv[1]);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long wall = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(out, "%lld %lld %lld %ld %d\n", wall, us(ru.ru_utime), us(ru.ru_stime), ru.ru_maxrss, code);
    fclose(out);
    return code;
}
