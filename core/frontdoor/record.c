/* The user's cache: plans read, records spooled. Every open is relative to the checked
 * cache directory, with O_NOFOLLOW|O_NONBLOCK, and used only if it is a regular file of
 * ours with one name. */
#define _GNU_SOURCE
#include "record.h"

#include "plan.h"
#include "waitline.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int ours(int fd, int dir) {
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022))
        return 0;
    return dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) && st.st_nlink == 1;
}

int lp_cache_dir(void) {
    char path[PATH_MAX];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (!home) { /* env -i: the user's home from the password database */
        struct passwd *pw = getpwuid(geteuid());
        home = pw ? pw->pw_dir : NULL;
    }
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(path, sizeof path, "%s/linkpool", xdg);
    else if (home && home[0] == '/')
        n = snprintf(path, sizeof path, "%s/.cache/linkpool", home);
    else
        return -1;
    if (n < 0 || (size_t)n >= sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && !ours(fd, 1)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int open_in(int cache, const char *sub, const char *name, int flags) {
    int dir = openat(cache, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return -1;
    int fd = -1;
    if (ours(dir, 1))
        fd = openat(dir, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    close(dir);
    if (fd >= 0 && !ours(fd, 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

char *lp_cache_read(int cache, const char *name, size_t *len) {
    int fd = open_in(cache, "plans", name, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= LP_PLAN_MAX
        && (buf = malloc((size_t)st.st_size))) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got != (size_t)st.st_size) {
            free(buf);
            buf = NULL;
        }
        *len = got;
    }
    close(fd);
    return buf;
}

void lp_cache_forget(int cache, const char *name) {
    int dir = openat(cache, "plans", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir >= 0) {
        unlinkat(dir, name, 0);
        close(dir);
    }
}

void lp_json_string(char *buf, size_t size, size_t *at, const char *s) {
    size_t i = *at;
#define ROOM(n) (i + (n) < size)
    if (ROOM(1))
        buf[i++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = (int)lpslot_utf8_len(p, strnlen((const char *)p, 4));
        if (n == 1 && *p >= 0x20 && *p != '"' && *p != '\\') {
            if (ROOM(1))
                buf[i++] = (char)*p;
        } else if (n == 1 && (*p == '"' || *p == '\\')) {
            if (ROOM(2)) {
                buf[i++] = '\\';
                buf[i++] = (char)*p;
            }
        } else if (n > 1) {
            if (ROOM((size_t)n)) {
                memcpy(buf + i, p, (size_t)n);
                i += (size_t)n;
            }
            p += n;
            continue;
        } else if (ROOM(6)) { /* a control character, or a byte that is not UTF-8 */
            i += (size_t)snprintf(buf + i, 7, "\\u%04x", n ? *p : 0xdc00 + *p);
        }
        p++;
    }
    if (ROOM(1))
        buf[i++] = '"';
#undef ROOM
    buf[i < size ? i : size - 1] = '\0';
    *at = i;
}

void lp_spool(int cache, const char *line, size_t len) {
    if (cache < 0)
        return;
    int fd = openat(cache, "records", O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK
                    | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (ours(fd, 0)) {
        ssize_t r;
        do
            r = write(fd, line, len);
        while (r < 0 && errno == EINTR);
    }
    close(fd);
}

#define HISTORY "history.jsonl"
#define HISTORY_MAX (8 << 20) /* linkpool.history.MAX_BYTES */

/* user.<uid> in the pool, ours (made 0755 if missing), or -1. */
static int user_folder(int pool) {
    char name[32];
    snprintf(name, sizeof name, "user.%u", (unsigned)geteuid());
    int made = mkdirat(pool, name, 0700) == 0;
    int fd = openat(pool, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || st.st_uid != geteuid())) {
        close(fd);
        return -1;
    }
    if (fd >= 0 && made)
        fchmod(fd, 0755);
    return fd;
}

/* The folder this user's records are in: the pool's own (private) or user.<uid>. */
static int base_folder(const char *pool, int shared) {
    int dir = open(pool, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir >= 0 && shared) {
        int user = user_folder(dir);
        close(dir);
        dir = user;
    }
    return dir;
}

void lp_history_remember(const char *pool, int shared, const char *output, const char *line,
                         size_t len) {
    int base = base_folder(pool, shared);
    if (base < 0)
        return;
    int made = mkdirat(base, "outputs", 0700) == 0;
    int dir = openat(base, "outputs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(base);
    struct stat st;
    if (dir < 0 || fstat(dir, &st) != 0 || st.st_uid != geteuid()) {
        if (dir >= 0)
            close(dir);
        return;
    }
    if (made)
        fchmod(dir, 0700);
    char name[32], tmp[64];
    lp_plan_name(output, strlen(output), name); /* History.key: FNV-1a 64 of the path */
    strcat(name, ".json");
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", name, (int)getpid());
    unlinkat(dir, tmp, 0); /* left by a process of this number that died */
    int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                    0600);
    if (fd >= 0) {
        fchmod(fd, 0600);
        ssize_t r;
        do
            r = write(fd, line, len);
        while (r < 0 && errno == EINTR);
        close(fd);
        if (r != (ssize_t)len || renameat(dir, tmp, dir, name) != 0)
            unlinkat(dir, tmp, 0);
    }
    close(dir);
}

void lp_history_append(const char *pool, int shared, const char *line, size_t len) {
    int dir = base_folder(pool, shared);
    if (dir < 0)
        return;
    int flags = O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    int fd = openat(dir, HISTORY, flags | O_CREAT | O_EXCL, 0600);
    if (fd >= 0)
        fchmod(fd, shared ? 0644 : 0600); /* made here: the umask does not decide */
    else if (errno == EEXIST)
        fd = openat(dir, HISTORY, flags);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
        goto out;
    char *buf = malloc(len + 1);
    if (!buf)
        goto out;
    char last = '\n';
    size_t at = 0;
    if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
        buf[at++] = '\n'; /* after a torn line: a line of its own */
    memcpy(buf + at, line, len);
    ssize_t r;
    do
        r = write(fd, buf, at + len);
    while (r < 0 && errno == EINTR);
    free(buf);
    struct stat now, named;
    if (fstat(fd, &now) == 0 && now.st_size > HISTORY_MAX && flock(fd, LOCK_EX | LOCK_NB) == 0
        && fstatat(dir, HISTORY, &named, AT_SYMLINK_NOFOLLOW) == 0 && named.st_ino == now.st_ino
        && named.st_size > HISTORY_MAX)
        renameat(dir, HISTORY, dir, HISTORY ".1");
out:
    if (fd >= 0)
        close(fd);
    close(dir);
}
