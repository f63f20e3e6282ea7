/* A process inside a container that keeps nsjoin from attaching to another:
 * it forks a child that sleeps, and traces it (PTRACE_SEIZE), so that no
 * other tracer can attach to the child. Then it sleeps itself. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int seconds = argc > 1 ? atoi(argv[1]) : 60;
    pid_t child = fork();
    if (child == 0) {
        sleep(seconds);
        return 0;
    }
    if (ptrace(PTRACE_SEIZE, child, 0, 0) != 0) { perror("PTRACE_SEIZE"); kill(child, SIGKILL); return 1; }
    printf("seized %d\n", child);
    fflush(stdout);
    sleep(seconds);
    return 0;
}
