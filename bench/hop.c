/* hop: one exec hop and nothing else, built static like the tools: what a
 * link of a chain costs at the least. usage: hop PROG [ARG...] */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    execvp(argv[1], argv + 1);
    perror(argv[1]);
    return 127;
}
