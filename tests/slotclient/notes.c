/* The note reader alone: notes on stdin (a decimal length, a newline, the bytes), one line
 * each on stdout: "0" (no note), or "1 JOB PID SINCE WHAT" (JOB and WHAT in hex). It
 * includes lpslot.c to reach its static read_note. */
#include "lpslot.c"

int main(void) {
    static unsigned char buf[NOTE_READ + 1];
    lpslot_pool *p = calloc(1, sizeof *p);
    if (!p)
        return 1;
    p->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    p->seed = 0xcbf29ce484222325ULL;
    size_t len;
    while (scanf("%zu", &len) == 1 && getchar() == '\n') {
        if (len > NOTE_READ || fread(buf, 1, len, stdin) != len)
            return 2;
        struct note note;
        if (!read_note(p, buf, len, 0, &note)) {
            printf("0\n");
            continue;
        }
        memcpy(p->rbuf, buf, len);
        p->text_len = 0;
        struct holder h = {0};
        uint32_t jl;
        size_t at = note.job;
        uint32_t cp;
        printf("1 ");
        jhash(buf, len, note.job, p->seed, &jl);
        if (!jl)
            putchar('-');
        while (jchar(buf, len, &at, &cp) == 1) {
            unsigned char b[4];
            size_t k = wtf8(cp, b);
            for (size_t i = 0; i < k; i++)
                printf("%02x", b[i]);
        }
        if (add_holder(p, &h, &note, len))
            return 3;
        printf(" %s %.17g ", p->text + h.pid_at, note.since);
        if (!h.what_len)
            putchar('-');
        for (uint32_t i = 0; i < h.what_len; i++)
            printf("%02x", (unsigned char)p->text[h.what_at + i]);
        printf("\n");
    }
    if (p->c_locale)
        freelocale(p->c_locale);
    free(p);
    return 0;
}
