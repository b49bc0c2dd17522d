/* The waiting lines (see waitline.h), as core/engine.py says them. */
#define _GNU_SOURCE
#include "waitline.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A line being made: what fits in buf, and the length of all of it. */
struct line {
    char *buf;
    size_t size, len;
};

static void add(struct line *l, const void *b, size_t n) {
    if (l->len < l->size) {
        size_t room = l->size - 1 - l->len;
        memcpy(l->buf + l->len, b, n < room ? n : room);
    }
    l->len += n;
}

__attribute__((format(printf, 2, 3))) static void addf(struct line *l, const char *fmt, ...) {
    char b[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    add(l, b, n < 0 ? 0 : (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

static int done(struct line *l) {
    if (l->size > 0)
        l->buf[l->len < l->size ? l->len : l->size - 1] = '\0';
    return l->len > (size_t)0x7fffffff ? 0x7fffffff : (int)l->len;
}

/* Bytes from the command line or the environment, as Python prints them: os.fsdecode
 * makes each byte that is not UTF-8 a surrogate (U+DC80..U+DCFF), which a UTF-8 stderr
 * writes as \udcXX (errors="backslashreplace"). */
static void add_bytes(struct line *l, const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t len = lpslot_utf8_len(s + i, n - i);
        if (len) {
            add(l, s + i, len);
            i += len;
        } else {
            addf(l, "\\udc%02x", s[i++]);
        }
    }
}

/* One holder as _say_waiting names it: "NAME (pid P, H slots)" ("1 slot"), NAME the
 * basename (os.path.basename: after the last '/') of what it links. */
static void add_holder(struct line *l, const lpslot_holder *h) {
    const char *name = h->what;
    for (size_t i = 0; i < h->what_len; i++)
        if (h->what[i] == '/')
            name = h->what + i + 1;
    add(l, name, h->what_len - (size_t)(name - h->what));
    addf(l, " (pid %s, %d slot%s)", h->pid, h->held, h->held == 1 ? "" : "s");
}

int lp_waiting_line(lpslot_pool *pool, long long ticket, int weight, const char *pool_path,
                    char *buf, size_t size) {
    struct line l = {buf, size, 0};
    lpslot_holder h[3];
    lpslot_census c;
    if (!pool || lpslot_holders(pool, ticket, h, 3, &c) != 0) {
        /* Pool.status() failed: what we wait for, and where */
        addf(&l, "waiting for %d of %d slots of ", weight, lpslot_slots(pool));
        add_bytes(&l, pool_path ? pool_path : "");
        return done(&l);
    }
    addf(&l, "waiting for %d of %d slots (%d job(s) ahead; held by ", weight, c.slots, c.ahead);
    for (int i = 0; i < c.holders && i < 3; i++) {
        if (i)
            add(&l, ", ", 2);
        add_holder(&l, &h[i]);
    }
    if (c.holders == 0)
        addf(&l, "nobody known");
    if (c.holders > 3)
        addf(&l, " and %d more", c.holders - 3);
    add(&l, ")", 1);
    return done(&l);
}

/* x as Python's f"{x:.1f}": printf's rounding (the exact binary value, ties to even, as
 * Python's), with a '.' whatever LC_NUMERIC says. */
static void add_tenths(struct line *l, double x) {
    char b[352]; /* DBL_MAX has 309 digits */
    if (x != x) {
        add(l, "nan", 3);
        return;
    }
    int n = snprintf(b, sizeof b, "%.1f", x);
    if (n < 3 || (size_t)n >= sizeof b || b[n - 1] < '0' || b[n - 1] > '9') {
        add(l, b, n < 0 ? 0 : (size_t)n < sizeof b ? (size_t)n : 0); /* inf, -inf */
        return;
    }
    size_t digits = b[0] == '-' ? 1 : 0;
    while (b[digits] >= '0' && b[digits] <= '9')
        digits++;
    add(l, b, digits);
    add(l, ".", 1);
    add(l, b + n - 1, 1);
}

int lp_got_line(int held, double waited, const char *what, char *buf, size_t size) {
    struct line l = {buf, size, 0};
    addf(&l, "got %d slot(s) after ", held);
    add_tenths(&l, waited);
    add(&l, " s; running ", 12);
    add_bytes(&l, what ? what : "");
    return done(&l);
}
