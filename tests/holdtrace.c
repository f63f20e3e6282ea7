/* A process inside a container that traces its own PID 1 (PTRACE_SEIZE of
 * its parent), so that nothing else can attach to it; then it sleeps. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <unistd.h>

int main(int argc, char **argv) {
    pid_t target = argc > 1 ? atoi(argv[1]) : getppid();
    if (ptrace(PTRACE_SEIZE, target, 0, 0) != 0) { perror("PTRACE_SEIZE"); return 1; }
    printf("seized %d\n", target);
    fflush(stdout);
    sleep(argc > 2 ? atoi(argv[2]) : 60);
    return 0;
}
