/* The i386 ABI from a 64-bit program: `int $0x80` enters the kernel as a
 * 32-bit program's calls do, and seccomp sees AUDIT_ARCH_I386 and i386's
 * numbers. Prints what getpid (20 there) and mount (21 there, with null
 * arguments) return: "ok" or the negative errno. Elsewhere it says so. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
#if defined(__x86_64__)
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
	if (r == (long)getpid())
		puts("getpid ok");
	else
		printf("getpid %ld\n", r);
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(21L), "b"(0L), "c"(0L), "d"(0L), "S"(0L), "D"(0L) : "memory");
	printf("mount %ld\n", r);
#else
	puts("no i386 ABI here");
#endif
	return 0;
}
