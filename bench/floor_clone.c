/* floor_clone: the least a program can do for "new namespaces, run a command,
 * wait": clone(2) with the flags, execve in the child, waitpid, exit with the
 * child's status. No loopback, no signal handling.
 * With -i, the cloned child is the least init a PID namespace needs instead:
 * it starts the command with posix_spawn, waits for it and exits with its
 * status; what nsclone's default (an init, not --as-pid-1) cannot do with less.
 * usage: floor_clone [-i] FLAGS PROG [ARG...]   (FLAGS: letters of m u p i n U C, or -)
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[64 * 1024] __attribute__((aligned(16)));
static char **prog;
extern char **environ;

static int status_of(int st) {
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(void *unused) {
    (void)unused;
    execve(prog[0], prog, environ);
    return 127;
}

static int init(void *unused) {
    (void)unused;
    pid_t pid;
    int st;
    if (posix_spawn(&pid, prog[0], NULL, NULL, prog, environ) != 0) return 127;
    waitpid(pid, &st, 0);
    return status_of(st);
}

int main(int argc, char **argv) {
    int with_init = argc > 1 && strcmp(argv[1], "-i") == 0;
    argv += with_init;
    argc -= with_init;
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
    pid_t pid = clone(with_init ? init : run, stack + sizeof stack, flags | SIGCHLD, NULL);
    if (pid < 0) { perror("clone"); return 125; }
    int st;
    waitpid(pid, &st, 0);
    return status_of(st);
}
