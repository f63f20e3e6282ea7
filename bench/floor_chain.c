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
 * usage: floor_chain [-c] [-b N] [-d | -t TEMPLATE] [-2] [-s] [-i] [-l] DIR PROG [ARG...]
 *
 * The other options add one of the chain's pieces each (or build the root the
 * way issue 28 proposes), so that bench/run can say what a piece costs at
 * the least, with no tool around it:
 *   -b N  N extra read-only binds of /usr/share at /b/0.. (the per-bind slope)
 *   -d    the root built detached: fsopen/fsmount, the binds open_tree clones
 *         moved onto the detached tree, the whole tree attached at DIR once
 *         (needs move_mount onto a detached mount, Linux 6.15)
 *   -t T  the root a clone of the prepared template T (a tmpfs holding /usr,
 *         the links, /dev with its null and any binds, made once beforehand):
 *         one open_tree(OPEN_TREE_CLONE|AT_RECURSIVE), and only /proc, /sys,
 *         /dev/pts and /tmp mounted per container. A clone shares the
 *         template's file systems: what one container writes to its root,
 *         every other one sees (the template must be read-only, or each
 *         container needs an overlay of its own)
 *   -2    a second mount namespace in the child, as mkroot makes its own
 *   -s    a sweeper: a forked process waiting on a pipe, killed and reaped
 *         at the end, as cglimit's
 *   -i    an init: the cloned child is PID 1, it spawns the command (vfork)
 *         and waits, as nsclone's
 *   -l    lo up in the new network namespace, as nsclone's default
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The mount API's constants (linux/mount.h), which musl's headers do not carry. */
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x1
#define FSCONFIG_SET_FLAG 0
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#define FSMOUNT_CLOEXEC 0x1
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#define SYS_move_mount 429
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
struct attributes { unsigned long long attr_set, attr_clr, propagation, userns_fd; };

static char stack[64 * 1024] __attribute__((aligned(16)));
static char **prog;
static const char *dir;
static int extra_binds, detached, second_ns, sweeper, with_init, loopback;
static const char *template;
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

static void bind_extra(void) {
    char p[4096];
    if (extra_binds == 0) return;
    at(p, "/b");
    mkdir(p, 0755);
    for (int i = 0; i < extra_binds; i++) {
        snprintf(p, sizeof p, "%s/b/%d", dir, i);
        mkdir(p, 0755);
        must(mount("/usr/share", p, NULL, MS_BIND | MS_REC, NULL) == 0, "bind /usr/share");
        must(mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0, "ro /usr/share");
    }
}

static void build_attached(void) {
    char p[4096];
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
    bind_extra();
}

/* A new filesystem, detached: fsopen, its options, fsmount with these attributes. */
static int fresh(const char *type, const char *options[], unsigned attr) {
    int fs = syscall(SYS_fsopen, type, FSOPEN_CLOEXEC);
    must(fs >= 0, type);
    for (const char **o = options; o && *o; o += 2)
        must(syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, o[0], o[1], 0) == 0, o[0]);
    must(syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0, type);
    int mnt = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, attr);
    must(mnt >= 0, type);
    close(fs);
    return mnt;
}

/* Attach a detached mount at NAME below the detached root. */
static void attach(int mnt, int root, const char *name) {
    must(syscall(SYS_move_mount, mnt, "", root, name, MOVE_MOUNT_F_EMPTY_PATH) == 0, name);
    close(mnt);
}

static int clone_of(const char *path, int read_only) {
    int mnt = syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    must(mnt >= 0, path);
    if (read_only) {
        struct attributes a = {.attr_set = MOUNT_ATTR_RDONLY};
        must(syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) == 0, path);
    }
    return mnt;
}

static void build_detached(void) {
    const char *root_options[] = {"mode", "0755", NULL};
    int root = fresh("tmpfs", root_options, 0);
    const char *dirs[] = {"usr", "proc", "sys", "dev", "tmp", "old", NULL};
    for (const char **d = dirs; *d; d++) mkdirat(root, *d, 0755);
    if (extra_binds) mkdirat(root, "b", 0755);
    attach(clone_of("/usr", 1), root, "usr");
    const char *links[][2] = {{"usr/bin", "bin"}, {"usr/sbin", "sbin"}, {"usr/lib", "lib"}, {"usr/lib64", "lib64"}};
    for (int i = 0; i < 4; i++) symlinkat(links[i][0], root, links[i][1]);
    attach(fresh("proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC), root, "proc");
    attach(fresh("sysfs", NULL, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC), root, "sys");
    const char *dev_options[] = {"mode", "0755", NULL};
    int dev = fresh("tmpfs", dev_options, MOUNT_ATTR_NOSUID);
    mkdirat(dev, "pts", 0755);
    close(openat(dev, "null", O_CREAT | O_WRONLY | O_CLOEXEC, 0666));
    const char *pts_options[] = {"newinstance", NULL, "ptmxmode", "0666", NULL};
    int pts = syscall(SYS_fsopen, "devpts", FSOPEN_CLOEXEC);
    must(pts >= 0 && syscall(SYS_fsconfig, pts, FSCONFIG_SET_FLAG, pts_options[0], NULL, 0) == 0 &&
         syscall(SYS_fsconfig, pts, FSCONFIG_SET_STRING, pts_options[2], pts_options[3], 0) == 0 &&
         syscall(SYS_fsconfig, pts, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0, "devpts");
    int pts_mnt = syscall(SYS_fsmount, pts, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    must(pts_mnt >= 0, "devpts");
    close(pts);
    attach(pts_mnt, dev, "pts");
    attach(clone_of("/dev/null", 0), dev, "null");
    attach(dev, root, "dev");
    attach(fresh("tmpfs", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV), root, "tmp");
    char name[32];
    for (int i = 0; i < extra_binds; i++) {
        snprintf(name, sizeof name, "b/%d", i);
        mkdirat(root, name, 0755);
        attach(clone_of("/usr/share", 1), root, name);
    }
    must(syscall(SYS_move_mount, root, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) == 0, "attach the root");
    close(root);
}

static void build_from_template(void) {
    char p[4096];
    int root = clone_of(template, 0);
    must(syscall(SYS_move_mount, root, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) == 0, "attach the template");
    close(root);
    at(p, "/proc");
    must(mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0, "proc");
    at(p, "/sys");
    must(mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0, "sysfs");
    at(p, "/dev/pts");
    must(mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666") == 0, "devpts");
    at(p, "/tmp");
    must(mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, NULL) == 0, "tmpfs /tmp");
}

static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    must(s >= 0 && ioctl(s, SIOCSIFFLAGS, &ifr) == 0, "lo up");
    close(s);
}

static int command(void) {
    char q[4096];
    if (second_ns) {
        must(unshare(CLONE_NEWNS) == 0, "a second mount namespace");
        must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "private /");
    }
    if (template) build_from_template();
    else if (detached) build_detached();
    else build_attached();
    at(q, "/old");
    must(syscall(SYS_pivot_root, dir, q) == 0, "pivot_root");
    must(chdir("/") == 0, "chdir");
    must(umount2("/old", MNT_DETACH) == 0, "detach the old root");
    if (!template) rmdir("/old"); /* a clone shares the template's tmpfs: every container would see it gone */
    execve(prog[0], prog, environ);
    return 127;
}

static int status_of(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

static int child(void *cgroup_procs) {
    if (cgroup_procs) put(cgroup_procs, "0");
    must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "private /");
    if (loopback) loopback_up();
    if (!with_init) return command();
    pid_t pid = vfork();
    if (pid == 0) _exit(command());
    must(pid > 0, "vfork");
    int st;
    waitpid(pid, &st, 0);
    return status_of(st);
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
    int with_cgroup = 0, opt;
    while ((opt = getopt(argc, argv, "+cb:dt:2sil")) != -1) {
        switch (opt) {
        case 'c': with_cgroup = 1; break;
        case 'b': extra_binds = atoi(optarg); break;
        case 'd': detached = 1; break;
        case 't': template = optarg; break;
        case '2': second_ns = 1; break;
        case 's': sweeper = 1; break;
        case 'i': with_init = 1; break;
        case 'l': loopback = 1; break;
        default: return 2;
        }
    }
    argv += optind - 1;
    argc -= optind - 1;
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
    pid_t swept = 0;
    int hold[2];
    if (sweeper) {
        must(pipe2(hold, O_CLOEXEC) == 0, "pipe");
        swept = fork();
        must(swept >= 0, "fork");
        if (swept == 0) {
            char byte;
            close(hold[1]);
            read(hold[0], &byte, 1);
            _exit(0);
        }
        close(hold[0]);
    }
    int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET;
    pid_t pid = clone(child, stack + sizeof stack, flags | SIGCHLD, with_cgroup ? procs : NULL);
    if (pid < 0) { perror("clone"); return 125; }
    int st;
    waitpid(pid, &st, 0);
    if (sweeper) {
        kill(swept, SIGKILL);
        waitpid(swept, NULL, 0);
        close(hold[1]);
    }
    if (with_cgroup) rmdir(cg);
    return status_of(st);
}
