/* A link's plan, as Python writes it for the front door (docs/launcher.md, "Plans"):
 * what to do with one exact invocation of `linkpool`, read from the plan cache or from
 * Python's answer on a pipe. */
#ifndef LP_PLAN_H
#define LP_PLAN_H

#include <stddef.h>

#define LP_PLAN_MAX (16 << 20) /* a plan file bigger than this is not one of ours */

enum lp_action { LP_NONE, LP_EXIT, LP_EXEC, LP_RUN, LP_PYTHON };

struct lp_variant {
    int n;       /* slots held */
    int t;       /* the linker's threads (0: no thread choice) */
    char **argv; /* the command, NULL-terminated */
};

struct lp_plan {
    char *buf;               /* the file's bytes (values point into it) */
    enum lp_action action;
    int status;              /* LP_EXIT */
    char **cmd;              /* LP_EXEC */
    const char *pool;        /* LP_RUN: */
    const char *pool_source; /* where pool's path came from ("--pool", "$LINKPOOL_DIR", a
                                config file), for the lines about it; NULL: the default */
    int weight, weight_max;
    double timeout;          /* < 0: none */
    int strict, quiet, polling, forking, once, jobserver, js_fixed, cpus;
    const char *note, *record, *label, *history, *output;
    int met;                 /* the history record says whether it met other jobs */
    struct lp_variant *variants;
    int nvariants;
    int js_want[64][2];      /* (N, W) pairs */
    const char *tuned[64];   /* "N T MEMBERS": what tuning adds to the history record */
    int ntuned;
    int njs_want;
};

/* A compiler driver's temporary file in an argument (gcc's TMPDIR/ccXXXXXX.res and .o,
 * clang's TMPDIR/NAME-XXXXXX.o): new random letters R on every run of the same link.
 * In the key, R is the marker "@NNNN@" (N: the ordinal of the argument among those that
 * have one), and so in the plan Python writes; lp_plan_fill puts this run's R back.
 * linkpool.plans.volatile is the same rule. */
#define LP_MAX_VOLATILE 64
struct lp_volatile {
    int arg;         /* argv index */
    size_t ctx, r;   /* in argv[arg]: where the folder starts, where R starts */
};
int lp_volatile(int argc, char **argv, struct lp_volatile *v, int max);

/* The plan key of this invocation (spec: uid, cwd, args, LINKPOOL_* and PATH entries),
 * the temporary names `v` (lp_volatile's, found once) as markers; malloc'ed into *key,
 * length in *len. -1 when the working directory is unknown. */
int lp_plan_key(int argc, char **argv, const struct lp_volatile *v, int nv, char **key,
                size_t *len);

/* Put this run's temporary names in place of the markers of a plan read for its key
 * (in place: a marker and R have the same length). */
void lp_plan_fill(char *buf, size_t len, char **argv, const struct lp_volatile *v, int nv);

/* The cache file name of a key: 16 hex digits of its FNV-1a 64. */
void lp_plan_name(const char *key, size_t len, char name[17]);

/* Parse `buf` (len bytes, malloc'ed: the plan owns it) against `key`. `fresh`: just
 * written by Python for this invocation (its key and stat entries are not checked). 0, or -1 when it is not a plan
 * for this key or something it depends on changed (the plan is then freed). */
int lp_plan_parse(char *buf, size_t len, const char *key, size_t keylen, int fresh,
                  struct lp_plan *plan);

/* The variant for n slots and t threads; t < 0: the plan's own for n. NULL: none. */
const struct lp_variant *lp_plan_variant(const struct lp_plan *plan, int n, int t);

void lp_plan_free(struct lp_plan *plan);

#endif
