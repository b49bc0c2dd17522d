/* Plans: the key of one invocation, and reading what Python planned for it.
 *
 * The key is what makes two invocations the same link: the user, the working directory,
 * every argument, and the environment linkpool reads (LINKPOOL_* and PATH). The plan file
 * starts with the key it was made for and is used only for exactly that key; it lists
 * the files its decision read (config files, pool.json, the linker), and a change to any
 * of them makes it stale. The format is Python's to write (linkpool.plans) and is
 * described there and in docs/launcher.md.
 */
#define _GNU_SOURCE
#include "plan.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define KEY_MAGIC "linkpool-plan-1"
#define FILE_MAGIC "lpplan1\n"

/* -- the key ----------------------------------------------------------------------- */

struct grow {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct grow *g, const void *data, size_t n) {
    if (g->failed)
        return;
    if (g->len + n > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n)
            cap *= 2;
        char *p = realloc(g->p, cap);
        if (!p) {
            g->failed = 1;
            return;
        }
        g->p = p;
        g->cap = cap;
    }
    memcpy(g->p + g->len, data, n);
    g->len += n;
}

static void put_field(struct grow *g, const char *s) { put(g, s, strlen(s) + 1); }

static void put_number(struct grow *g, long long n) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", n);
    put_field(g, digits);
}

/* The variables a plan depends on: LINKPOOL_*, and what finds the linker, the config
 * files and the default pool (linkpool.plans.KEY_NAMES). */
static int read_by_linkpool(const char *entry) {
    static const char *const names[] = {"PATH=", "HOME=", "XDG_RUNTIME_DIR=",
                                        "XDG_CONFIG_HOME=", "XDG_CONFIG_DIRS=", NULL};
    if (strncmp(entry, "LINKPOOL_", 9) == 0)
        return 1;
    for (const char *const *n = names; *n; n++)
        if (strncmp(entry, *n, strlen(*n)) == 0)
            return 1;
    return 0;
}

/* -- a driver's temporary files ------------------------------------------------------- */

#define R_LEN 6 /* the random letters of gcc's and LLVM's temporary names */

static int is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

/* Where R starts in the file name `name` (up to the next '/' or the end), or -1: gcc's
 * "cc" + 6 letters or digits + "." + suffix, clang's NAME + "-" + 6 hex digits + ".o". */
static long random_letters(const char *name) {
    size_t len = strcspn(name, "/");
    if (name[len])
        return -1; /* a folder below: not the driver's file */
    if (len > 2 + R_LEN && !strncmp(name, "cc", 2) && name[2 + R_LEN] == '.') {
        int ok = 1;
        for (int i = 0; i < R_LEN; i++)
            ok &= is_alnum(name[2 + i]);
        if (ok)
            return 2;
    }
    const char *dot = memrchr(name, '.', len);
    if (dot && (size_t)(dot - name) > R_LEN && dot[-R_LEN - 1] == '-' && !strcmp(dot, ".o")) {
        int ok = 1;
        for (int i = 0; i < R_LEN; i++)
            ok &= is_hex(dot[-R_LEN + i]);
        if (ok)
            return dot - R_LEN - name;
    }
    return -1;
}

int lp_volatile(int argc, char **argv, struct lp_volatile *v, int max) {
    char tmpdir[PATH_MAX] = "";
    const char *t = getenv("TMPDIR");
    if (t && t[0] == '/' && strlen(t) < sizeof tmpdir) {
        strcpy(tmpdir, t);
        size_t n = strlen(tmpdir);
        while (n > 1 && tmpdir[n - 1] == '/')
            tmpdir[--n] = '\0';
    }
    const char *dirs[] = {tmpdir, "/tmp", "/var/tmp"};
    int found = 0;
    for (int i = 1; i < argc && found < max; i++) {
        const char *word = argv[i];
        int done = 0;
        for (const char *at = word; *at && !done; at++) {
            if (*at != '/' || (at != word && at[-1] != '='))
                continue; /* a path starts the argument or follows an '=' */
            for (size_t d = 0; d < 3 && !done; d++) {
                size_t dl = strlen(dirs[d]);
                if (!dl || strncmp(at, dirs[d], dl) || at[dl] != '/')
                    continue;
                long r = random_letters(at + dl + 1);
                if (r < 0)
                    continue;
                v[found].arg = i;
                v[found].ctx = (size_t)(at - word);
                v[found].r = (size_t)(at - word) + dl + 1 + (size_t)r;
                found++;
                done = 1;
            }
        }
    }
    return found;
}

/* "@NNNN@" for k (0 <= k < LP_MAX_VOLATILE). */
static void marker(char out[R_LEN + 1], int k) {
    out[0] = '@';
    for (int i = 4; i >= 1; i--, k /= 10)
        out[i] = (char)('0' + k % 10);
    out[5] = '@';
    out[6] = '\0';
}

void lp_plan_fill(char *buf, size_t len, char **argv, const struct lp_volatile *v, int n) {
    size_t magic = sizeof FILE_MAGIC - 1;
    if (!n || len < magic)
        return;
    char *end;
    unsigned long long klen = strtoull(buf + magic, &end, 10);
    if (*end != '\n' || (size_t)(end + 1 - buf) + klen > len)
        return;
    char *body = end + 1 + klen;
    size_t blen = len - (size_t)(body - buf);
    for (int k = 0; k < n; k++) {
        const char *word = argv[v[k].arg];
        size_t clen = v[k].r - v[k].ctx;
        char pattern[PATH_MAX + R_LEN + 1];
        if (clen + R_LEN >= sizeof pattern)
            continue;
        memcpy(pattern, word + v[k].ctx, clen);
        marker(pattern + clen, k);
        for (char *at = body; (at = memmem(at, blen - (size_t)(at - body), pattern,
                                            clen + R_LEN));
             at += clen + R_LEN)
            memcpy(at + clen, word + v[k].r, R_LEN);
    }
}

static int bytewise(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b); /* compares unsigned chars */
}

int lp_plan_key(int argc, char **argv, const struct lp_volatile *v, int nv, char **key,
                size_t *len) {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return -1; /* removed under the build, or longer than PATH_MAX: ask Python */
    size_t nenv = 0;
    for (char **e = environ; e && *e; e++)
        nenv += read_by_linkpool(*e);
    char **envs = malloc((nenv + 1) * sizeof *envs);
    if (!envs)
        return -1;
    nenv = 0;
    for (char **e = environ; e && *e; e++)
        if (read_by_linkpool(*e))
            envs[nenv++] = *e;
    qsort(envs, nenv, sizeof *envs, bytewise);

    struct grow g = {0};
    put_field(&g, KEY_MAGIC);
    put_number(&g, (long long)geteuid());
    put_field(&g, cwd);
    put_number(&g, argc - 1);
    int k = 0;
    for (int i = 1; i < argc; i++) {
        if (k < nv && v[k].arg == i) { /* the marker in place of this run's letters */
            char *word = strdup(argv[i]);
            if (!word) {
                g.failed = 1;
                break;
            }
            char m[R_LEN + 1];
            marker(m, k);
            memcpy(word + v[k].r, m, R_LEN);
            put_field(&g, word);
            free(word);
            k++;
            continue;
        }
        put_field(&g, argv[i]);
    }
    for (size_t i = 0; i < nenv; i++)
        put_field(&g, envs[i]);
    free(envs);
    if (g.failed) {
        free(g.p);
        return -1;
    }
    *key = g.p;
    *len = g.len;
    return 0;
}

void lp_plan_name(const char *key, size_t len, char name[17]) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 0x100000001b3ULL;
    }
    snprintf(name, 17, "%016llx", (unsigned long long)h);
}

/* -- the fields -------------------------------------------------------------------- */

struct cursor {
    char *at, *end;
};

/* The next NUL-terminated string, or NULL at the end or on a torn field. */
static char *next(struct cursor *c) {
    if (c->at >= c->end)
        return NULL;
    char *s = c->at;
    char *nul = memchr(s, '\0', (size_t)(c->end - s));
    if (!nul)
        return NULL;
    c->at = nul + 1;
    return s;
}

static int to_int(const char *s, long long least, long long most, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < least || v > most)
        return -1;
    *out = v;
    return 0;
}

static int flag(const char *s) { return s[0] == '1' && !s[1]; }

/* "argc" then that many "arg" fields: a NULL-terminated vector pointing into the plan. */
static char **command(struct cursor *c) {
    char *name = next(c), *value = next(c);
    long long argc;
    if (!name || !value || strcmp(name, "argc") || to_int(value, 1, 1 << 20, &argc))
        return NULL;
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    if (!argv)
        return NULL;
    for (long long i = 0; i < argc; i++) {
        name = next(c);
        value = next(c);
        if (!name || !value || strcmp(name, "arg")) {
            free(argv);
            return NULL;
        }
        argv[i] = value;
    }
    return argv;
}

/* "DEV INO SIZE SEC NSEC PATH": the file is as it was. */
static int unchanged(const char *value) {
    unsigned long long dev, ino, sec, nsec;
    long long size;
    int at = 0;
    if (sscanf(value, "%llu %llu %lld %llu %llu %n", &dev, &ino, &size, &sec, &nsec, &at) != 5
        || !at)
        return 0;
    struct stat st;
    if (stat(value + at, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino
        && (long long)st.st_size == size && (unsigned long long)st.st_mtim.tv_sec == sec
        && (unsigned long long)st.st_mtim.tv_nsec == nsec;
}

static int still_absent(const char *path) {
    struct stat st;
    return stat(path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR);
}

static int cpus_now(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    return CPU_COUNT(&set);
}

static int add_variant(struct lp_plan *plan, const char *value, struct cursor *c) {
    int n, t, at = 0;
    if (sscanf(value, "%d %d%n", &n, &t, &at) != 2 || value[at] || n < 1 || t < 0)
        return -1;
    char **argv = command(c);
    if (!argv)
        return -1;
    struct lp_variant *v = realloc(plan->variants,
                                   (size_t)(plan->nvariants + 1) * sizeof *v);
    if (!v) {
        free(argv);
        return -1;
    }
    plan->variants = v;
    v[plan->nvariants++] = (struct lp_variant){n, t, argv};
    return 0;
}

static int field(struct lp_plan *plan, const char *name, const char *value, struct cursor *c,
                 int fresh) {
    long long v;
    if (!strcmp(name, "action")) {
        if (!strcmp(value, "exit")) plan->action = LP_EXIT;
        else if (!strcmp(value, "exec")) plan->action = LP_EXEC;
        else if (!strcmp(value, "run")) plan->action = LP_RUN;
        else if (!strcmp(value, "python")) plan->action = LP_PYTHON;
        else return -1;
    } else if (!strcmp(name, "status")) {
        if (to_int(value, 0, 255, &v)) return -1;
        plan->status = (int)v;
    } else if (!strcmp(name, "argc")) {
        c->at = (char *)name; /* read again as a command */
        free(plan->cmd);
        if (!(plan->cmd = command(c))) return -1;
    } else if (!strcmp(name, "variant")) {
        return add_variant(plan, value, c);
    } else if (!strcmp(name, "stat")) {
        return fresh || unchanged(value) ? 0 : -1;
    } else if (!strcmp(name, "absent")) {
        return fresh || still_absent(value) ? 0 : -1;
    } else if (!strcmp(name, "cpus")) {
        if (to_int(value, 0, 1 << 20, &v)) return -1;
        plan->cpus = (int)v;
        return fresh || plan->cpus == cpus_now() ? 0 : -1;
    } else if (!strcmp(name, "pool")) {
        plan->pool = value;
    } else if (!strcmp(name, "pool_source")) {
        plan->pool_source = value;
    } else if (!strcmp(name, "weight") || !strcmp(name, "weight_max")) {
        if (to_int(value, 1, 4096, &v)) return -1;
        *(name[6] ? &plan->weight_max : &plan->weight) = (int)v;
    } else if (!strcmp(name, "timeout")) {
        char *end;
        plan->timeout = strtod(value, &end);
        if (end == value || *end) return -1;
    } else if (!strcmp(name, "js_want")) {
        int n, w, at = 0;
        if (sscanf(value, "%d %d%n", &n, &w, &at) != 2 || value[at] || plan->njs_want >= 64)
            return -1;
        plan->js_want[plan->njs_want][0] = n;
        plan->js_want[plan->njs_want++][1] = w;
    } else if (!strcmp(name, "note")) plan->note = value;
    else if (!strcmp(name, "record")) plan->record = value;
    else if (!strcmp(name, "label")) plan->label = value;
    else if (!strcmp(name, "history")) plan->history = value;
    else if (!strcmp(name, "output")) plan->output = value;
    else if (!strcmp(name, "tuned") && plan->ntuned < 64) plan->tuned[plan->ntuned++] = value;
    else if (!strcmp(name, "met")) plan->met = flag(value);
    else if (!strcmp(name, "strict")) plan->strict = flag(value);
    else if (!strcmp(name, "quiet")) plan->quiet = flag(value);
    else if (!strcmp(name, "polling")) plan->polling = flag(value);
    else if (!strcmp(name, "forking")) plan->forking = flag(value);
    else if (!strcmp(name, "once")) plan->once = flag(value);
    else if (!strcmp(name, "jobserver")) plan->jobserver = flag(value);
    else if (!strcmp(name, "js_fixed")) plan->js_fixed = flag(value);
    return 0; /* a field of a later version: not ours to know */
}

static int complete(const struct lp_plan *plan) {
    switch (plan->action) {
    case LP_NONE:
        return 0;
    case LP_EXIT:
    case LP_PYTHON:
        return 1;
    case LP_EXEC:
        return plan->cmd != NULL;
    case LP_RUN:
        return plan->pool && plan->pool[0] == '/' && plan->weight >= 1
            && plan->weight_max >= plan->weight && plan->nvariants > 0
            && lp_plan_variant(plan, plan->weight, -1);
    }
    return 0;
}

int lp_plan_parse(char *buf, size_t len, const char *key, size_t keylen, int fresh,
                  struct lp_plan *plan) {
    memset(plan, 0, sizeof *plan);
    plan->buf = buf;
    plan->action = LP_NONE;
    plan->timeout = -1;
    size_t magic = sizeof FILE_MAGIC - 1;
    char *end;
    if (len < magic || memcmp(buf, FILE_MAGIC, magic) || buf[len - 1] != '\0')
        goto bad;
    errno = 0;
    unsigned long long klen = strtoull(buf + magic, &end, 10);
    if (errno || end == buf + magic || *end != '\n' || (size_t)(end + 1 - buf) + klen > len)
        goto bad;
    /* A plan Python just made for this invocation is its own, whatever key it computed;
     * a cached one must be for exactly this key. */
    if (!fresh && (klen != keylen || memcmp(end + 1, key, keylen)))
        goto bad;
    struct cursor c = {end + 1 + klen, buf + len};
    for (;;) {
        char *name = next(&c);
        if (!name)
            break;
        char *value = next(&c);
        if (!value || field(plan, name, value, &c, fresh))
            goto bad;
    }
    if (c.at != c.end || !complete(plan))
        goto bad;
    return 0;
bad:
    lp_plan_free(plan);
    return -1;
}

const struct lp_variant *lp_plan_variant(const struct lp_plan *plan, int n, int t) {
    const struct lp_variant *first = NULL;
    for (int i = 0; i < plan->nvariants; i++) {
        const struct lp_variant *v = &plan->variants[i];
        if (v->n != n)
            continue;
        if (t < 0 || v->t == t)
            return t < 0 && first ? first : v;
        if (!first)
            first = v;
    }
    return t < 0 ? first : NULL;
}

void lp_plan_free(struct lp_plan *plan) {
    for (int i = 0; i < plan->nvariants; i++)
        free(plan->variants[i].argv);
    free(plan->variants);
    free(plan->cmd);
    free(plan->buf);
    memset(plan, 0, sizeof *plan);
}
