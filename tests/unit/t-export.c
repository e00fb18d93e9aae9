/* Unit tests of common/export.c: tiny:2 of the peers' layout, flattened. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "test.h"
#include "util.h"
#include "store.h"
#include "arcin.h"
#include "arcout.h"
#include "arcimg.h"
#include "export.h"

TEST(export_tiny2)
{
	char *dir = img_test_fixture("peers/tiny-oci-layout");
	char *out = xasprintf("%s/t.tar", img_test_tmpdir);
	struct img_store *s;
	struct img_view v;
	struct img_arcout *a;
	struct img_arcin *in;
	struct img_arcin_entry e;
	char names[2048] = "";
	int fd, rc;

	IMG_ASSERT_EQ_INT(img_store_open(dir, 0, &s), 0);
	IMG_ASSERT_EQ_INT(img_view_from_store(s, "tiny:2", NULL, &v), 0);
	fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0600);
	IMG_ASSERT(fd >= 0);
	a = img_arcout_new_fd(fd, 0);
	IMG_ASSERT_EQ_INT(img_export_write(&v, a), 0);
	img_arcout_free(a);
	img_view_release(&v);
	img_store_close(s);
	lseek(fd, 0, SEEK_SET);
	IMG_ASSERT_EQ_INT(img_arcin_open_fd(fd, 0, &in), 0);
	while ((rc = img_arcin_next(in, &e)) == 1) {
		size_t l = strlen(names);
		if (strncmp(e.path, "bin/", 4) == 0 && e.type == IMG_ENT_SYMLINK)
			continue;
		snprintf(names + l, sizeof(names) - l, "%s%s ", e.path,
		         e.type == IMG_ENT_HARDLINK ? "@" : "");
	}
	IMG_ASSERT_EQ_INT(rc, 0);
	img_arcin_free(in);
	close(fd);
	/* whiteouts and the opaque opt/old applied; directories first, files in layer
	 * order, the second name of c-link.txt's inode last */
	IMG_ASSERT_EQ_STR(names, "bin etc opt opt/old root tmp usr usr/share usr/share/tiny "
	                  "bin/busybox etc/group etc/passwd usr/share/tiny/a.txt "
	                  "etc/tiny-release usr/share/tiny/c-link.txt opt/old/z.txt bin/hello "
	                  "usr/share/tiny/c.txt@ ");
	free(dir);
	free(out);
}
