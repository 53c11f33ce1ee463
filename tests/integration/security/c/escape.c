/* The hostile container's toolbox: each subcommand tries one way out that a default
 * container must not have, prints "ok" when it worked or "denied <errno name>" when the
 * kernel refused, and exits 0 either way (the test reads the word, not the status).
 *
 *   escape userns         unshare(CLONE_NEWUSER) and map root: a full-capability user ns
 *   escape userns-mount   ... then a mount namespace and a tmpfs mount inside it
 *   escape key-add NAME   add_key("user", NAME, ...) to the session keyring
 *   escape key-find NAME  look NAME up in the session keyring (request_key-free search)
 *   escape perf           perf_event_open of a software counter on this process
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static int report(long rc) {
    if (rc < 0) {
        const char *name = strerrorname_np(errno);
        printf("denied %s\n", name ? name : "?");
    } else {
        printf("ok\n");
    }
    return 0;
}

static int write_file(const char *path, const char *data) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    ssize_t n = write(fd, data, strlen(data));
    close(fd);
    return n < 0 ? -1 : 0;
}

static int userns(int with_mount) {
    uid_t uid = getuid();
    gid_t gid = getgid();
    char map[64];
    if (unshare(CLONE_NEWUSER) < 0) return report(-1);
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %d 1", (int)uid);
    if (write_file("/proc/self/uid_map", map) < 0) return report(-1);
    snprintf(map, sizeof map, "0 %d 1", (int)gid);
    if (write_file("/proc/self/gid_map", map) < 0) return report(-1);
    if (!with_mount) return report(0);
    if (unshare(CLONE_NEWNS) < 0) return report(-1);
    return report(mount("none", "/tmp", "tmpfs", 0, NULL));
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: escape userns|userns-mount|key-add N|key-find N|perf\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "userns")) return userns(0);
    if (!strcmp(cmd, "userns-mount")) return userns(1);
    if (!strcmp(cmd, "key-add") && argc > 2)
        return report(syscall(SYS_add_key, "user", argv[2], "secret", 6,
                              KEY_SPEC_SESSION_KEYRING));
    if (!strcmp(cmd, "key-find") && argc > 2)
        return report(syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user",
                              argv[2], 0));
    if (!strcmp(cmd, "perf")) {
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        attr.exclude_kernel = 1;
        return report(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
    }
    fprintf(stderr, "escape: unknown command %s\n", cmd);
    return 2;
}
