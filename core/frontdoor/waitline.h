/* The lines the front door says while it waits for slots, byte for byte as Python's
 * engine says them (core/engine.py: Engine._say_waiting, and the "got ..." line of
 * Engine._admitted), written as Python writes them to a UTF-8 stderr (a byte of a path
 * that is not UTF-8 as \udcXX, os.fsdecode's surrogate then backslashreplace'd).
 *
 * Each fills buf like snprintf: at most size - 1 bytes and a NUL (when size > 0), and
 * returns the length of the whole line, which may be more. The line has neither the
 * "linkpool: " prefix nor the newline: say() adds both. It holds a NUL byte only if
 * another user's note put one in a holder's name (write it with its length, not "%s",
 * to say it all as Python would); LP_LINE_MAX bytes always hold it. */
#ifndef LP_WAITLINE_H
#define LP_WAITLINE_H

#include <stddef.h>

#include "../slotclient/lpslot.h"

/* The longest line either function makes (pool paths up to PATH_MAX). */
#define LP_LINE_MAX (LPSLOT_TEXT_MAX + 6 * 4096 + 256)

/* "waiting for K of N slots (A job(s) ahead; held by NAME (pid P, H slots), ... and M
 * more)" for a job of weight K whose ticket is `ticket` (the notice's), from
 * lpslot_holders: NAME is the basename of a holder's output, else of its command[0], H
 * the slots it holds ("1 slot" for one); three holders at most, in the order `linkpool
 * status` lists them, "nobody known" for none. When the pool cannot be read: "waiting
 * for K of N slots of POOL" (pool_path as given; pass the plan's pool, which is
 * Python's pool.path). */
int lp_waiting_line(lpslot_pool *pool, long long ticket, int weight, const char *pool_path,
                    char *buf, size_t size);

/* "got H slot(s) after W.W s; running WHAT": `held` slots held (the lease's count),
 * `waited` seconds (Python's: the lease's waited), `what` the job's output, else its
 * argv[0], as Python has them (job.output is an absolute path, not a basename). */
int lp_got_line(int held, double waited, const char *what, char *buf, size_t size);

/* (the length of a UTF-8 sequence: lpslot_utf8_len, the slot client's) */

#endif
