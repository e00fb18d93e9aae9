/* copy: paths cleaned below /, archives recognized. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "copy.h"

TEST(copy_clean_below_root)
{
	static const char *const cases[][2] = {
		{ "/a/../b/", "b" }, { "../../etc/passwd", "etc/passwd" }, { "./x//y/.", "x/y" },
		{ "/", "" }, { ".", "" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *c = img_copy_clean(cases[i][0]);
		int ok = strcmp(c, cases[i][1]) == 0;
		if (!ok)
			printf("# %s -> %s\n", cases[i][0], c);
		free(c);
		IMG_ASSERT(ok);
	}
}

TEST(copy_archive_sniffed)
{
	char *t = img_test_fixture("peers/src/tiny-rootfs.tar");
	char *txt = xasprintf("%s/plain.txt", img_test_tmpdir);
	FILE *f = fopen(txt, "w");

	IMG_ASSERT(f);
	fputs("not an archive\n", f);
	fclose(f);
	IMG_ASSERT_EQ_INT(img_copy_is_archive(t), 1);
	IMG_ASSERT_EQ_INT(img_copy_is_archive(txt), 0);
	free(t);
	free(txt);
}
