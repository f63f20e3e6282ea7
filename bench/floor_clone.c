/* floor_clone: the least a program can do for "new namespaces, run a command,
 * wait": clone(2) with the flags, execve in the child, waitpid, exit with the
 * child's status. No init, no loopback, no signal handling.
 * usage: floor_clone FLAGS PROG [ARG...]   (FLAGS: letters of m u p i n U C, or -)
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[64 * 1024] __attribute__((aligned(16)));
static char **prog;
extern char **environ;

static int child(void *unused) {
    (void)unused;
    execve(prog[0], prog, environ);
    return 127;
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
    pid_t pid = clone(child, stack + sizeof stack, flags | SIGCHLD, NULL);
    if (pid < 0) { perror("clone"); return 125; }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
