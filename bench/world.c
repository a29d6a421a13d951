/*
 * world: builds a synthetic pidfile world for bench/run and holds it until told to go.
 *
 *   world DIR N [mismatch]
 *
 * Forks N light daemons. Daemon i opens DIR/live-G/benchd-I.pid (G = i / 100), takes a lock on it
 * (by turns a POSIX fcntl lock as lockf takes it, an flock, an OFD lock), writes its PID and
 * pause()s. Then writes N stale pidfiles DIR/stale-G/benchd-I.pid naming PIDs no process has. Prints
 * "ready DAEMONS STALE" on stdout once every daemon holds its lock, then waits until stdin reaches
 * end of file (the script that started it exited, however it exited) or SIGTERM/SIGINT arrives, and
 * kills and reaps every daemon and removes the files and directories it made (DIR too, once empty).
 * Daemons also die with it (PR_SET_PDEATHSIG), so none outlives it.
 *
 * Daemons are named `benchd` (their comm), which matches their pidfiles' names. With `mismatch` they
 * are named `qworker` instead, as a daemon whose pidfile is named after its service and not its
 * program: the audit then reads each daemon's executable and command line to identify it.
 *
 * A daemon is a fork of this small program: a few hundred KiB, mostly shared, where a Python daemon
 * takes megabytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define PER_DIR 100

static pid_t *kids;
static int nkids;
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what) {
    perror(what);
    for (int i = 0; i < nkids; i++) kill(kids[i], SIGKILL);
    exit(2);
}

static void subdir(const char *dir, const char *kind, int i, char *out, size_t n) {
    snprintf(out, n, "%s/%s-%02d", dir, kind, i / PER_DIR);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) die("mkdir");
}

static void daemon_main(const char *path, int i, pid_t parent, int ready) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    close(null);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) _exit(1);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int rc;
    switch (i % 3) {
    case 0: rc = fcntl(fd, F_SETLK, &fl); break; /* what lockf(F_TLOCK) takes */
    case 1: rc = flock(fd, LOCK_EX | LOCK_NB); break;
    default: rc = fcntl(fd, F_OFD_SETLK, &fl); break;
    }
    if (rc != 0) _exit(1);
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (write(fd, buf, len) != len) _exit(1);
    if (write(ready, "r", 1) != 1) _exit(1);
    close(ready);
    for (;;) pause();
}

static int read_int(const char *path, int dflt) {
    int v = dflt;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%d", &v) != 1) v = dflt;
        fclose(f);
    }
    return v;
}

static int pid_in_use(int pid) {
    char p[32];
    struct stat st;
    snprintf(p, sizeof p, "/proc/%d", pid);
    return stat(p, &st) == 0 || kill(pid, 0) == 0 || errno != ESRCH;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "mismatch") != 0)) {
        fprintf(stderr, "usage: world DIR N [mismatch]\n");
        return 2;
    }
    const char *comm = argc == 4 ? "qworker" : "benchd";
    const char *dir = argv[1];
    int n = atoi(argv[2]);
    if (n <= 0 || n > 10000) {
        fprintf(stderr, "world: N must be 1..10000\n");
        return 2;
    }
    prctl(PR_SET_NAME, "benchd-world");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    kids = calloc(n, sizeof *kids);
    if (!kids) die("calloc");
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) die("pipe");
    pid_t self = getpid();
    char sub[4096], path[4096 + 32];
    for (int i = 0; i < n && !stop; i++) {
        subdir(dir, "live", i, sub, sizeof sub);
        snprintf(path, sizeof path, "%s/benchd-%05d.pid", sub, i);
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            close(ready[0]);
            prctl(PR_SET_NAME, comm);
            daemon_main(path, i, self, ready[1]);
        }
        kids[nkids++] = pid;
    }
    close(ready[1]);
    int got = 0;
    char buf[4096];
    while (got < n && !stop) {
        ssize_t r = read(ready[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += r;
    }
    close(ready[0]);
    /* Stale pidfiles: PIDs no process has now, counted down from the last PID handed out. The kernel
     * hands out PIDs counting up and wraps at pid_max, so these are the PIDs it will reach last: on a
     * busy machine, PIDs picked anywhere else are soon given to new processes and stop being stale. */
    int pid_max = read_int("/proc/sys/kernel/pid_max", 32768);
    int next = read_int("/proc/sys/kernel/ns_last_pid", pid_max - 1);
    int stale = 0;
    for (int i = 0; i < n && !stop; i++) {
        int pid, tries = 0;
        do {
            next = next > 301 ? next - 1 : pid_max - 1;
            pid = next;
        } while (pid_in_use(pid) && ++tries < pid_max);
        subdir(dir, "stale", i, sub, sizeof sub);
        snprintf(path, sizeof path, "%s/benchd-%05d.pid", sub, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) die("open stale pidfile");
        int len = snprintf(buf, sizeof buf, "%d\n", pid);
        if (write(fd, buf, len) != len) die("write stale pidfile");
        close(fd);
        stale++;
    }
    if (!stop) {
        printf("ready %d %d\n", got, stale);
        fflush(stdout);
    }
    if (got < n && !stop) fprintf(stderr, "world: only %d of %d daemons took their lock\n", got, n);
    /* Hold the world until stdin closes or a signal arrives. */
    while (!stop) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR)) break;
    }
    for (int i = 0; i < nkids; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < nkids; i++) waitpid(kids[i], NULL, 0);
    /* Remove what was built, so nothing is left even when the script was killed outright. */
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            snprintf(sub, sizeof sub, "%s/%s-%02d", dir, k ? "stale" : "live", i / PER_DIR);
            snprintf(path, sizeof path, "%s/benchd-%05d.pid", sub, i);
            unlink(path);
            if (i % PER_DIR == PER_DIR - 1 || i == n - 1) rmdir(sub);
        }
    }
    rmdir(dir);
    return got == n ? 0 : 1;
}
