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

#endif
