/* dockerfile: a Dockerfile's text as instructions (docker's syntax: parser directives
 * "# escape" and "# syntax", comments, line continuations, flags, exec and shell forms;
 * heredocs refused), and .dockerignore patterns. JSON and text only, no I/O. */
#ifndef IMG_DOCKERFILE_H
#define IMG_DOCKERFILE_H

#include <stddef.h>
#include <jansson.h>

struct img_df_instr {
	unsigned line;        /* where it starts (1-based) */
	char *kw;             /* FROM, RUN, COPY, ... (upper case) */
	char *args;           /* after the keyword and flags, continuations joined, trimmed */
	char *text;           /* keyword (as written), flags and args: the whole instruction */
	char **flags;         /* "--from=x" as "from=x", "--link" as "link" */
	size_t nflags;
	json_t *exec;         /* the exec form ["a", ...] when args is one (RUN, CMD,
	                       * ENTRYPOINT, COPY, ADD, SHELL, VOLUME), else NULL */
};

struct img_dockerfile {
	struct img_df_instr *in;
	size_t n, cap;
	char escape;          /* '\\' or '`' */
	char *syntax;         /* the "# syntax=" directive, NULL when absent */
};

/* Parse text (len bytes). 0, or -1 with img_errmsg() and *errline the line it names.
 * Release df either way. */
int img_dockerfile_parse(const char *text, size_t len, struct img_dockerfile *df,
                         unsigned *errline);
void img_dockerfile_release(struct img_dockerfile *df);
/* The value of flag name of in ("from" -> "x"), "" for a bare flag, or NULL. */
const char *img_dockerfile_flag(const struct img_df_instr *in, const char *name);

/* .dockerignore: patterns (comments, blank lines skipped, "!" excludes again, "**" any
 * number of directories, a pattern matching a directory matching what it holds). */
struct img_ignore {
	char **pat;           /* cleaned, without "!" */
	unsigned char *neg;
	size_t n;
};
void img_dockerfile_ignore_parse(const char *text, size_t len, struct img_ignore *ig);
/* 1 when path (relative to the context, cleaned) is ignored. */
int img_dockerfile_ignore_match(const struct img_ignore *ig, const char *path);
/* 1 when some "!" pattern could bring back something below the ignored directory dir. */
int img_dockerfile_ignore_may_reinclude(const struct img_ignore *ig, const char *dir);
void img_dockerfile_ignore_release(struct img_ignore *ig);

/* fnmatch with "**" as any number of path segments; 1 match, 0 not. */
int img_dockerfile_path_match(const char *pattern, const char *path);

#endif
