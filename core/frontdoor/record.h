/* The front door's own files in the user's cache: the plan cache and the record spool
 * (docs/launcher.md, "Plans and records"). */
#ifndef LP_RECORD_H
#define LP_RECORD_H

#include <stddef.h>

/* The user's cache directory (CACHE/linkpool), opened O_PATH-free read-only as a
 * directory and checked: ours, a real directory, not writable by group or others. -1
 * when there is none (no HOME, or not safe). */
int lp_cache_dir(void);

/* The contents of CACHE/plans/NAME, malloc'ed (len in *len), or NULL. `once`: remove it. */
char *lp_cache_read(int cache, const char *name, size_t *len);
void lp_cache_forget(int cache, const char *name);

/* A JSON string for `s` (quotes included), appended to buf at *at (size bytes in all):
 * bytes that are not UTF-8 become \udcXX, as Python's os.fsdecode reads them. */
void lp_json_string(char *buf, size_t size, size_t *at, const char *s);

/* Append one line to CACHE/records, in one write. Errors are ignored (a full disk loses
 * the record, never the link). */
void lp_spool(int cache, const char *line, size_t len);

/* Append one record line to the pool's history as linkpool.history.History.append does:
 * history.jsonl in the pool (private) or in user.<uid>/ (shared: made 0755, the history
 * 0644), never through a symlink, a regular file of ours; after a torn line the record
 * starts on a line of its own; past 8 MiB the file is renamed history.jsonl.1. Errors are
 * ignored (the command's outcome is what counts). */
void lp_history_append(const char *pool, int shared, const char *line, size_t len);

/* Keep `line` as the output's last record (History.remember: outputs/<FNV-1a of the
 * output>.json in the user's folder, replaced atomically), which the next plan of that
 * output is estimated from. */
void lp_history_remember(const char *pool, int shared, const char *output, const char *line,
                         size_t len);

#endif
