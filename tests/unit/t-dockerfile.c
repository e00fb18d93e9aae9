/* dockerfile: instructions, directives, continuations, errors; .dockerignore patterns;
 * variable expansion of config's words. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "test.h"
#include "util.h"
#include "config.h"
#include "dockerfile.h"

static int parse(const char *t, struct img_dockerfile *df, unsigned *line)
{
	return img_dockerfile_parse(t, strlen(t), df, line);
}

TEST(dockerfile_instructions)
{
	struct img_dockerfile df;
	unsigned line;
	const char *t =
		"# syntax=docker/dockerfile:1\n"
		"\n"
		"ARG BASE=scratch\n"
		"from ${BASE} AS build   \n"
		"# a comment\n"
		"RUN echo a \\\n"
		"  # inside\n"
		"   && echo b\n"
		"COPY --from=build --chown=1:2 a b /dst/\n"
		"CMD [\"nginx\", \"-g\", \"daemon off;\"]\n"
		"ENTRYPOINT [not json\n";

	IMG_ASSERT_EQ_INT(parse(t, &df, &line), 0);
	IMG_ASSERT_EQ_STR(df.syntax, "docker/dockerfile:1");
	IMG_ASSERT_EQ_INT(df.n, 6);
	IMG_ASSERT_EQ_STR(df.in[0].kw, "ARG");
	IMG_ASSERT_EQ_INT(df.in[0].line, 3);
	IMG_ASSERT_EQ_STR(df.in[1].kw, "FROM");
	IMG_ASSERT_EQ_STR(df.in[1].args, "${BASE} AS build");
	IMG_ASSERT_EQ_STR(df.in[2].args, "echo a    && echo b");
	IMG_ASSERT_EQ_INT(df.in[2].line, 6);
	IMG_ASSERT(df.in[2].exec == NULL);
	IMG_ASSERT_EQ_STR(img_dockerfile_flag(&df.in[3], "from"), "build");
	IMG_ASSERT_EQ_STR(img_dockerfile_flag(&df.in[3], "chown"), "1:2");
	IMG_ASSERT(img_dockerfile_flag(&df.in[3], "chmod") == NULL);
	IMG_ASSERT_EQ_STR(df.in[3].args, "a b /dst/");
	IMG_ASSERT_EQ_INT(json_array_size(df.in[4].exec), 3);
	IMG_ASSERT(df.in[5].exec == NULL);
	IMG_ASSERT_EQ_STR(df.in[5].text, "ENTRYPOINT [not json");
	img_dockerfile_release(&df);
}

TEST(dockerfile_escape_directive)
{
	struct img_dockerfile df;
	unsigned line;

	IMG_ASSERT_EQ_INT(parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n", &df, &line), 0);
	IMG_ASSERT_EQ_INT(df.escape, '`');
	IMG_ASSERT_EQ_STR(df.in[1].args, "dir c:\\   && echo");
	img_dockerfile_release(&df);
	/* a directive after an instruction is a comment */
	IMG_ASSERT_EQ_INT(parse("FROM x\n# escape=`\nRUN a \\\n b\n", &df, &line), 0);
	IMG_ASSERT_EQ_STR(df.in[1].args, "a  b");
	img_dockerfile_release(&df);
}

TEST(dockerfile_errors_name_the_line)
{
	static const struct { const char *text; unsigned line; const char *msg; } cases[] = {
		{ "FROM x\n\nFOO bar\n", 3, "unknown instruction: FOO" },
		{ "FROM x\nRUN\n", 2, "RUN requires at least one argument" },
		{ "FROM x\nRUN <<EOF\necho\nEOF\n", 2, "heredocs" },
		{ "FROM x\nCOPY a\n", 2, "COPY requires at least two arguments" },
		{ "FROM x\nSHELL /bin/bash -c\n", 2, "SHELL requires the JSON form" },
		{ "FROM x\nCOPY --frm=a b c\n", 2, "COPY: unknown flag --frm" },
		{ "RUN x\n", 1, "RUN before the first FROM" },
		{ "ARG A\n", 1, "no FROM instruction" },
		{ "# comment only\n", 1, "no instructions" },
		{ "# escape=x\nFROM a\n", 1, "invalid escape token" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct img_dockerfile df;
		unsigned line = 0;
		int r = parse(cases[i].text, &df, &line);
		if (r == 0 || line != cases[i].line || !strstr(img_errmsg(), cases[i].msg))
			printf("# case %zu: r=%d line=%u msg=%s\n", i, r, line, img_errmsg());
		img_dockerfile_release(&df);
		IMG_ASSERT(r < 0);
		IMG_ASSERT_EQ_INT(line, cases[i].line);
		IMG_ASSERT(strstr(img_errmsg(), cases[i].msg) != NULL);
	}
}

TEST(dockerignore_patterns)
{
	struct img_ignore ig;
	const char *t = "# comment\n*.log\n/build\n**/tmp\n!keep.log\ndocs/*/draft*\n\n";

	img_dockerfile_ignore_parse(t, strlen(t), &ig);
	IMG_ASSERT_EQ_INT(ig.n, 5);
	IMG_ASSERT(img_dockerfile_ignore_match(&ig, "a.log"));
	IMG_ASSERT(!img_dockerfile_ignore_match(&ig, "keep.log"));
	IMG_ASSERT(!img_dockerfile_ignore_match(&ig, "sub/a.log"));        /* * does not cross / */
	IMG_ASSERT(img_dockerfile_ignore_match(&ig, "build"));
	IMG_ASSERT(img_dockerfile_ignore_match(&ig, "build/x/y"));         /* below a matched directory */
	IMG_ASSERT(img_dockerfile_ignore_match(&ig, "tmp"));
	IMG_ASSERT(img_dockerfile_ignore_match(&ig, "a/b/tmp/c"));
	IMG_ASSERT(img_dockerfile_ignore_match(&ig, "docs/v1/draft.md"));
	IMG_ASSERT(!img_dockerfile_ignore_match(&ig, "docs/v1/final.md"));
	IMG_ASSERT(!img_dockerfile_ignore_match(&ig, "src/main.c"));
	img_dockerfile_ignore_release(&ig);
	IMG_ASSERT(img_dockerfile_path_match("**/*.c", "a/b/c.c"));
	IMG_ASSERT(img_dockerfile_path_match("**/*.c", "c.c"));
	IMG_ASSERT(!img_dockerfile_path_match("a/*", "a/b/c"));
}

TEST(config_words_expand_vars)
{
	json_t *env = json_pack("[s]", "A=env");
	json_t *vars = json_pack("[ss]", "A=arg", "B=bee");
	char **w;
	char *x;

	IMG_ASSERT_EQ_INT(img_config_words("$A ${B} ${C:-dflt} ${B:+set} x${C:+no}y '$B'", env, vars, &w), 6);
	IMG_ASSERT_EQ_STR(w[0], "env");
	IMG_ASSERT_EQ_STR(w[1], "bee");
	IMG_ASSERT_EQ_STR(w[2], "dflt");
	IMG_ASSERT_EQ_STR(w[3], "set");
	IMG_ASSERT_EQ_STR(w[4], "xy");
	IMG_ASSERT_EQ_STR(w[5], "$B");
	img_config_words_free(w);
	x = img_config_expand("${C:-${B}}/\"$A\"", env, vars);
	IMG_ASSERT_EQ_STR(x, "bee/\"env\"");
	free(x);
	json_decref(env);
	json_decref(vars);
}
