/* pairs: time commands against each other, interleaved round by round, so
 * that machine noise hits every command alike.
 *
 * usage: pairs ROUNDS -- CMD1 ARGS... -- CMD2 ARGS... [-- ...]
 * Prints, per command, the median and mean wall time of spawn+wait in
 * microseconds and the ratio of its median to the first command's.
 * PAIRS_PAUSE_MS=N sleeps N ms before each run (a cold start each time).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: pairs ROUNDS -- CMD... [-- CMD...]\n"); return 2; }
    int rounds = atoi(argv[1]);
    char **cmds[32];
    int n = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            argv[i] = NULL;
            if (i + 1 < argc && n < 32) cmds[n++] = &argv[i + 1];
        }
    }
    double *t = calloc((size_t)n * rounds, sizeof *t);
    const char *pause_env = getenv("PAIRS_PAUSE_MS");
    long pause_ms = pause_env ? atol(pause_env) : 0;
    /* The commands' output goes to /dev/null: the report shows only the timings. */
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    for (int r = -rounds / 10 - 1; r < rounds; r++) {      /* the first rounds warm up */
        for (int c = 0; c < n; c++) {
            struct timespec a, b;
            pid_t pid;
            int st;
            if (pause_ms > 0) {
                struct timespec p = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
                nanosleep(&p, NULL);
            }
            clock_gettime(CLOCK_MONOTONIC, &a);
            if (posix_spawnp(&pid, cmds[c][0], &quiet, NULL, cmds[c], environ) != 0) { perror(cmds[c][0]); return 1; }
            waitpid(pid, &st, 0);
            clock_gettime(CLOCK_MONOTONIC, &b);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "pairs: %s failed\n", cmds[c][0]); return 1; }
            if (r >= 0) t[c * rounds + r] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
        }
    }
    double base = 0;
    for (int c = 0; c < n; c++) {
        double *x = t + c * rounds, sum = 0;
        for (int r = 0; r < rounds; r++) sum += x[r];
        qsort(x, rounds, sizeof *x, cmp);
        double med = x[rounds / 2];
        if (c == 0) base = med;
        printf("%9.0f us median %9.0f us mean  x%.2f  ", med, sum / rounds, med / base);
        for (char **w = cmds[c]; *w; w++) printf("%s ", *w);
        printf("\n");
    }
    return 0;
}
