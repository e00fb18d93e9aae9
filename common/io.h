/* io: '-' handling, full writes, atomic output files, temp-file cleanup on signals. */
#ifndef IMG_IO_H
#define IMG_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Open an input: "-" or NULL is stdin (returned as a dup), else open(path, O_RDONLY).
 * fd or -1 (errno set; img_errmsg "cannot open 'path': ..."). */
int img_io_open_in(const char *path);

/* write(2) until all n bytes are out; EINTR retried. 0 or -1 (errno set). */
int img_io_write_all(int fd, const void *buf, size_t n);
/* read(2) until n bytes or EOF; returns bytes read or -1. */
ssize_t img_io_read_full(int fd, void *buf, size_t n);

/* An output: stdout ("-" or NULL) or an atomic file (an unnamed temp file in its
 * directory, linked into place on commit). */
struct img_out {
	int fd;
	int is_stdout;
	int anon;        /* the file is unnamed (O_TMPFILE) until commit */
	char *path;      /* final path, NULL for stdout */
	char *tmp;       /* named temp path while open (when O_TMPFILE is not available) */
};
/* Open. For a file, creates an unnamed file (O_TMPFILE) in the same directory, so that
 * nothing is left behind however the process ends, even by SIGKILL; where the file
 * system cannot, creates "<path>.XXXXXX" there and registers it for removal on
 * SIGINT/SIGTERM/SIGHUP and on exit. 0 or -1. */
int img_io_out_open(struct img_out *o, const char *path);
/* Give the file being written (not stdout, not a device written in place) mode instead
 * of the default (0666 less the umask), before anything is written: a secret's 0600.
 * 0 or -1. */
int img_io_out_chmod(struct img_out *o, mode_t mode);
/* 1 if the output is stdout and a terminal (tools writing tar refuse this). */
int img_io_out_is_tty(const struct img_out *o);
/* fsync (files), link (or rename) into place, fsync the directory. An unnamed file
 * that replaces an existing FILE is linked to "<path>.XXXXXX" and renamed over FILE (no
 * call replaces a name by an unnamed file): only a SIGKILL between those two calls can
 * leave that name behind. For stdout only checks that stdout can still be flushed.
 * 0 or -1; on -1 the temp file is removed. */
int img_io_out_commit(struct img_out *o);
void img_io_out_abort(struct img_out *o);

/* Temp files to remove if the process dies from a signal or exits: register/unregister. */
void img_io_tmp_register(const char *path);
void img_io_tmp_unregister(const char *path);

/* fsync a directory by path. 0 or -1. */
int img_io_fsync_dir(const char *dir);

/* Flush and close stdout; 0, or -1 when a write failed (EPIPE counts as success,
 * quietly: the reader went away). Tools call this last. */
int img_io_close_stdout(void);

/* Ignore SIGPIPE's default death only where needed: tools keep it default; writers of
 * tar to stdout get EPIPE as an error return they must report silently. */
int img_io_is_epipe(int err);

#endif
