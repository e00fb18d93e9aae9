/* progress: byte progress on stderr. tty: one line rewritten in place at most
 * 10 times a second; plain: a line every 5 s and a final line; none: nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "util.h"

#define TTY_INTERVAL_NS 100000000LL      /* 0.1 s */
#define PLAIN_INTERVAL_NS 5000000000LL   /* 5 s */
#define CHECK_EVERY_CALLS 64
#define CHECK_EVERY_BYTES (1u << 20)

struct img_progress {
	enum img_progress_mode mode;   /* TTY, PLAIN or NONE after resolution */
	char *label;
	uint64_t total, done;
	uint64_t unchecked;            /* bytes since the clock was last read */
	unsigned calls;
	int64_t start, last;           /* ns, CLOCK_MONOTONIC */
	int printed;                   /* tty: a line is on screen */
	pthread_mutex_t mu;            /* img_progress_add from several threads */
};

int img_progress_parse(const char *s, enum img_progress_mode *m)
{
	static const struct { const char *name; enum img_progress_mode mode; } tab[] = {
		{ "auto", IMG_PROGRESS_AUTO }, { "tty", IMG_PROGRESS_TTY },
		{ "plain", IMG_PROGRESS_PLAIN }, { "none", IMG_PROGRESS_NONE },
	};

	for (size_t i = 0; s && i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strcmp(s, tab[i].name) == 0) {
			*m = tab[i].mode;
			return 0;
		}
	}
	img_seterr("invalid progress mode '%s' (auto, tty, plain or none)", s ? s : "");
	return -1;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct img_progress *img_progress_new(enum img_progress_mode m, const char *label, uint64_t total)
{
	struct img_progress *p = xcalloc(1, sizeof(*p));

	if (m == IMG_PROGRESS_AUTO) {
		const char *ci = getenv("CI");
		if (isatty(STDERR_FILENO))
			m = IMG_PROGRESS_TTY;
		else if (ci && *ci)
			m = IMG_PROGRESS_PLAIN;
		else
			m = IMG_PROGRESS_NONE;
	}
	p->mode = m;
	p->label = img_util_escape_cut(label ? label : "");
	p->total = total;
	p->start = p->last = now_ns();
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

int img_progress_shown(const struct img_progress *p)
{
	return p && p->mode != IMG_PROGRESS_NONE;
}

void img_progress_set_total(struct img_progress *p, uint64_t total)
{
	if (p)
		p->total = total;
}

/* "12.3MB / 750MB  (45%)  120MB/s" (sizes as docker prints them). */
static void format_status(const struct img_progress *p, int64_t now, char *buf, size_t len)
{
	char done[16], total[16], rate[16];
	double secs = (double)(now - p->start) / 1e9;
	size_t n;

	img_util_human_size(p->done, done, sizeof(done));
	if (p->total) {
		double pct = (double)p->done * 100.0 / (double)p->total;
		img_util_human_size(p->total, total, sizeof(total));
		n = (size_t)snprintf(buf, len, "%s / %s  (%d%%)", done, total,
				     pct > 100.0 ? 100 : (int)pct);
	} else {
		n = (size_t)snprintf(buf, len, "%s", done);
	}
	if (n < len && secs > 0.05) {
		img_util_human_size((uint64_t)((double)p->done / secs), rate, sizeof(rate));
		snprintf(buf + n, len - n, "  %s/s", rate);
	}
}

static void print_line(struct img_progress *p, int64_t now, int final)
{
	char status[96];

	format_status(p, now, status, sizeof(status));
	if (p->mode == IMG_PROGRESS_TTY) {
		/* \033[K clears what a longer previous line left */
		fprintf(stderr, "\r%s %s\033[K%s", p->label, status, final ? "\n" : "");
		p->printed = !final;
	} else {
		fprintf(stderr, "%s: %s%s\n", p->label, status, final ? "  done" : "");
	}
	fflush(stderr);
	p->last = now;
}

void img_progress_add(struct img_progress *p, uint64_t n)
{
	int64_t now, interval;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->done += n;
	p->unchecked += n;
	if (p->mode != IMG_PROGRESS_NONE &&
	    (++p->calls >= CHECK_EVERY_CALLS || p->unchecked >= CHECK_EVERY_BYTES)) {
		p->calls = 0;
		p->unchecked = 0;
		now = now_ns();
		interval = p->mode == IMG_PROGRESS_TTY ? TTY_INTERVAL_NS : PLAIN_INTERVAL_NS;
		if (now - p->last >= interval)
			print_line(p, now, 0);
	}
	pthread_mutex_unlock(&p->mu);
}

void img_progress_done(struct img_progress *p)
{
	if (!p)
		return;
	if (p->total && p->done < p->total) {
		/* unfinished (the work failed): no "done" line; clear a bar so that the
		 * error message that follows starts on a clean line */
		if (p->mode == IMG_PROGRESS_TTY && p->printed) {
			fputs("\r\033[K", stderr);
			fflush(stderr);
		}
	} else if (p->mode != IMG_PROGRESS_NONE) {
		print_line(p, now_ns(), 1);
	}
	pthread_mutex_destroy(&p->mu);
	free(p->label);
	free(p);
}
