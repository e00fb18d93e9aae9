/* progress: byte progress on stderr (auto|tty|plain|none). The one part of common/
 * that prints, and only to stderr. */
#ifndef IMG_PROGRESS_H
#define IMG_PROGRESS_H

#include <stdint.h>

enum img_progress_mode { IMG_PROGRESS_AUTO, IMG_PROGRESS_TTY, IMG_PROGRESS_PLAIN, IMG_PROGRESS_NONE };
/* "auto", "tty", "plain", "none". 0 or -1. */
int img_progress_parse(const char *s, enum img_progress_mode *m);

struct img_progress;
/* total may be 0 (unknown). auto: tty when stderr is a terminal, plain when CI is set,
 * else none. Never NULL (a NONE progress does nothing). */
struct img_progress *img_progress_new(enum img_progress_mode m, const char *label, uint64_t total);
void img_progress_set_total(struct img_progress *p, uint64_t total);
/* Add n bytes done, from any thread (the workers of one transfer share a progress).
 * Cheap: prints at most 10 times a second (tty) or every 5 s (plain). */
void img_progress_add(struct img_progress *p, uint64_t n);
/* 1 if p prints (the mode resolved to tty or plain): a caller's summary line goes with it. */
int img_progress_shown(const struct img_progress *p);
/* Final line and free. NULL-safe. */
void img_progress_done(struct img_progress *p);

#endif
