/* floor_chain: the whole chain's job in one process, with no checks and no
 * options: the least any tool can do for "cglimit 50M nsclone -mupin mkroot
 * DIR sh -c true".
 *   - with -c: a cgroup below ours in the memory hierarchy (v1 or v2), a
 *     50 MiB limit, the child joined to it (tasks on v1, cgroup.procs on v2),
 *     removed afterwards;
 *   - clone(2) into new mount, UTS, PID, IPC and network namespaces;
 *   - in the child: / private, a tmpfs at DIR, /usr bound read-only with the
 *     merged-/usr links (bin, sbin, lib, lib64), /proc, /sys read-only, a
 *     tmpfs /dev with devpts and /dev/null bound, a tmpfs /tmp, pivot_root,
 *     the old root detached, exec;
 *   - the parent waits and exits with the child's status.
 * usage: floor_chain [-c] DIR PROG [ARG...]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[64 * 1024] __attribute__((aligned(16)));
static char **prog;
static const char *dir;
extern char **environ;

static void must(int ok, const char *what) {
    if (!ok) { perror(what); _exit(125); }
}

static void put(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    must(fd >= 0 && write(fd, value, strlen(value)) == (ssize_t)strlen(value), path);
    close(fd);
}

static void at(char *buf, const char *leaf) { snprintf(buf, 4096, "%s%s", dir, leaf); }

static int child(void *cgroup_procs) {
    char p[4096], q[4096];
    if (cgroup_procs) put(cgroup_procs, "0");
    must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "private /");
    must(mount("tmpfs", dir, "tmpfs", 0, "mode=0755") == 0, "tmpfs root");
    const char *dirs[] = {"/usr", "/proc", "/sys", "/dev", "/tmp", "/old", NULL};
    for (const char **d = dirs; *d; d++) { at(p, *d); mkdir(p, 0755); }
    at(p, "/usr");
    must(mount("/usr", p, NULL, MS_BIND | MS_REC, NULL) == 0, "bind /usr");
    must(mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0, "ro /usr");
    const char *links[][2] = {{"usr/bin", "/bin"}, {"usr/sbin", "/sbin"}, {"usr/lib", "/lib"}, {"usr/lib64", "/lib64"}};
    for (int i = 0; i < 4; i++) { at(p, links[i][1]); symlink(links[i][0], p); }
    at(p, "/proc");
    must(mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0, "proc");
    at(p, "/sys");
    must(mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0, "sysfs");
    at(p, "/dev");
    must(mount("tmpfs", p, "tmpfs", MS_NOSUID, "mode=0755") == 0, "tmpfs /dev");
    at(p, "/dev/pts"); mkdir(p, 0755);
    must(mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666") == 0, "devpts");
    at(p, "/dev/null");
    close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0666));
    must(mount("/dev/null", p, NULL, MS_BIND, NULL) == 0, "bind /dev/null");
    at(p, "/tmp");
    must(mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, NULL) == 0, "tmpfs /tmp");
    at(q, "/old");
    must(syscall(SYS_pivot_root, dir, q) == 0, "pivot_root");
    must(chdir("/") == 0, "chdir");
    must(umount2("/old", MNT_DETACH) == 0, "detach the old root");
    rmdir("/old");
    execve(prog[0], prog, environ);
    return 127;
}

/* Our cgroup in the memory hierarchy: v1's memory controller, else v2. */
static int memory_cgroup(char *parent) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[4096];
    int v2 = 0;
    must(f != NULL, "/proc/self/cgroup");
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *ctl = strchr(line, ':'), *path = ctl ? strchr(ctl + 1, ':') : NULL;
        if (!path) continue;
        *path++ = 0;
        ctl++;
        if (strcmp(ctl, "memory") == 0 || (strstr(ctl, "memory") && strchr(ctl, ','))) {
            snprintf(parent, 4096, "/sys/fs/cgroup/memory%s", strcmp(path, "/") ? path : "");
            fclose(f);
            return 0;
        }
        if (*ctl == 0) { snprintf(parent, 4096, "/sys/fs/cgroup%s", strcmp(path, "/") ? path : ""); v2 = 1; }
    }
    fclose(f);
    return v2;
}

int main(int argc, char **argv) {
    int with_cgroup = argc > 1 && strcmp(argv[1], "-c") == 0;
    argv += with_cgroup;
    argc -= with_cgroup;
    if (argc < 3) return 2;
    dir = argv[1];
    prog = argv + 2;
    char cg[4200] = "", procs[4300] = "", file[4300];
    if (with_cgroup) {
        char parent[4096];
        int v2 = memory_cgroup(parent);
        snprintf(cg, sizeof cg, "%s/floor.%d", parent, getpid());
        must(mkdir(cg, 0755) == 0, cg);
        snprintf(file, sizeof file, "%s/%s", cg, v2 ? "memory.max" : "memory.limit_in_bytes");
        put(file, "52428800");
        snprintf(procs, sizeof procs, "%s/%s", cg, v2 ? "cgroup.procs" : "tasks");
    }
    int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET;
    pid_t pid = clone(child, stack + sizeof stack, flags | SIGCHLD, with_cgroup ? procs : NULL);
    if (pid < 0) { perror("clone"); return 125; }
    int st;
    waitpid(pid, &st, 0);
    if (with_cgroup) rmdir(cg);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
