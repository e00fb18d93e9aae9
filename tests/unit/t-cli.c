/* cli: the synopsis lines every tool prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "cli.h"

TEST(cli_usage_lines)
{
	static const char *const forms[] = { "[-n] A", "--check B", NULL };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char *old = xstrdup(img_util_progname());

	IMG_ASSERT(f != NULL);
	img_util_setprogname("/usr/bin/img-x");
	img_cli_usage_lines(f, forms);
	fclose(f);
	img_util_setprogname(old);
	free(old);
	IMG_ASSERT_EQ_STR(buf, "usage: img-x [-n] A\n"
	                       "       img-x --check B\n");
	free(buf);
}
