/* floor_init: floor_clone plus the least init a PID namespace needs: the
 * cloned child (PID 1) starts the command with posix_spawn, waits for it and
 * exits with its status. What nsclone's default (an init, not --as-pid-1)
 * cannot do with less.
 * usage: floor_init FLAGS PROG [ARG...]   (FLAGS: letters of m u p i n U C, or -)
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[64 * 1024] __attribute__((aligned(16)));
static char **prog;
extern char **environ;

static int init(void *unused) {
    (void)unused;
    pid_t pid;
    int st;
    if (posix_spawn(&pid, prog[0], NULL, NULL, prog, environ) != 0) return 127;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int flags = 0;
    for (const char *f = argv[1]; *f; f++) {
        switch (*f) {
        case 'm': flags |= CLONE_NEWNS; break;
        case 'u': flags |= CLONE_NEWUTS; break;
        case 'p': flags |= CLONE_NEWPID; break;
        case 'i': flags |= CLONE_NEWIPC; break;
        case 'n': flags |= CLONE_NEWNET; break;
        case 'U': flags |= CLONE_NEWUSER; break;
        case 'C': flags |= CLONE_NEWCGROUP; break;
        }
    }
    prog = argv + 2;
    pid_t pid = clone(init, stack + sizeof stack, flags | SIGCHLD, NULL);
    if (pid < 0) { perror("clone"); return 125; }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
