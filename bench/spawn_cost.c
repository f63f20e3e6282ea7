/* spawn_cost: what starting a command costs a process of cglimit's size
 * (512 KiB of its own memory touched), by the three ways a tool can: fork(2),
 * clone3(CLONE_VFORK) (the parent waits for the exec, the memory still
 * copied), and vfork(2) (CLONE_VM|CLONE_VFORK: nothing copied, so the child
 * may run no code that touches what the parent owns). Each ROUNDS times:
 * start /usr/bin/true (or PROG), wait; prints median and mean in us.
 * usage: spawn_cost ROUNDS [PROG]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CLONE_VFORK_FLAG 0x00004000
struct clone_arguments { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls; };

static char ballast[512 * 1024];
extern char **environ;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    char *prog[] = {argc > 2 ? argv[2] : "/usr/bin/true", NULL};
    const char *names[] = {"fork", "clone3(CLONE_VFORK)", "vfork (CLONE_VM|CLONE_VFORK)"};
    double *t = calloc(3 * (size_t)rounds, sizeof *t);
    if (rounds < 1 || !t) return 2;
    memset(ballast, 1, sizeof ballast);
    for (int i = 0; i < rounds; i++) {
        for (int way = 0; way < 3; way++) { /* interleaved, round by round */
            double start = now();
            pid_t pid;
            if (way == 0) pid = fork();
            else if (way == 1) {
                struct clone_arguments ca = {.flags = CLONE_VFORK_FLAG, .exit_signal = SIGCHLD};
                pid = syscall(SYS_clone3, &ca, sizeof ca);
            } else pid = vfork();
            if (pid == 0) { execve(prog[0], prog, environ); _exit(127); }
            if (pid < 0) { perror(names[way]); return 1; }
            waitpid(pid, NULL, 0);
            t[way * rounds + i] = now() - start;
        }
    }
    for (int way = 0; way < 3; way++) {
        double *w = t + way * rounds, sum = 0;
        for (int i = 0; i < rounds; i++) sum += w[i];
        qsort(w, rounds, sizeof *w, cmp);
        printf("%9.0f us median %9.0f us mean  %s\n", w[rounds / 2], sum / rounds, names[way]);
    }
    return 0;
}
