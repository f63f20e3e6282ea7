/* probe: what a container's command may do. Each call uses arguments that
 * make it fail harmlessly even if nothing stops it (an invalid flag, a NULL
 * image), so only EPERM shows the filter or a missing capability at work.
 *   probe          every call of the default filter's list
 *   probe allowed  the calls --privileged lets through, and the foreign ABI
 *   probe sti      push "echo INJECTED" into the terminal with TIOCSTI */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static void report(const char *name, long rc) {
    printf("%s=%s\n", name, rc == -1 ? (errno == EPERM ? "EPERM" : "other") : "ok");
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "sti") == 0) {
        long rc = 0;
        for (const char *p = "echo INJECTED\n"; *p && rc == 0; p++) rc = ioctl(0, TIOCSTI, p);
        report("TIOCSTI", rc);
        return 0;
    }
    struct timespec bad = {0, 2000000000L};
    if (strcmp(mode, "allowed") != 0) {
        report("init_module", syscall(SYS_init_module, NULL, 0, ""));
        report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0xffffffffUL));
        report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
        report("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, &bad));
        report("bpf", syscall(SYS_bpf, -1, NULL, 0));
        report("userfaultfd", syscall(SYS_userfaultfd, ~0));
        report("mknod_block", mknod("/tmp/probe-block", S_IFBLK | 0600, makedev(8, 0)));
        report("io_uring_setup", syscall(425, 1, NULL));
    }
    report("keyctl", syscall(SYS_keyctl, -1, 0, 0, 0, 0));
    report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    report("unshare", unshare(CLONE_NEWNS));
    report("x32", syscall(39 | 0x40000000));
    return 0;
}
