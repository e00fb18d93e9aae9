/* dirwalk: sorted order, parents first, symlinks not followed, hard links found. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "test.h"
#include "util.h"
#include "dirwalk.h"

static int put(const char *root, const char *rel, const char *data)
{
	char *p = xasprintf("%s/%s", root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc = -1;

	if (fd >= 0 && write(fd, data, strlen(data)) == (ssize_t)strlen(data))
		rc = 0;
	if (fd >= 0)
		close(fd);
	free(p);
	return rc;
}

static int sub(const char *root, const char *rel, int (*f)(const char *, const char *),
               const char *arg)
{
	char *p = xasprintf("%s/%s", root, rel);
	int rc = f(arg, p);

	free(p);
	return rc;
}

static int mkdir_at(const char *unused, const char *p)
{
	(void)unused;
	return mkdir(p, 0755);
}

static int mkfifo_at(const char *unused, const char *p)
{
	(void)unused;
	return mkfifo(p, 0644);
}

static int link_at(const char *target, const char *p)
{
	return link(target, p);
}

static int symlink_at(const char *target, const char *p)
{
	return symlink(target, p);
}

struct seen {
	char text[2048];
	int skip_dir;           /* return 1 for the directory "b" */
	int fail_at;            /* return -1 at the nth entry (1-based), 0 never */
	int n;
};

static int record(const struct img_dirwalk_entry *e, void *arg)
{
	struct seen *s = arg;
	static const char tc[] = "fdshcbpo";
	size_t len = strlen(s->text);
	char data[16] = "";

	s->n++;
	if (s->fail_at && s->n == s->fail_at) {
		img_seterr("stop at %s", e->rel);
		return -1;
	}
	if (e->type == IMG_ENT_FILE) {
		ssize_t k = read(e->fd, data, sizeof data - 1);
		data[k > 0 ? k : 0] = '\0';
	}
	if ((e->type == IMG_ENT_FILE || e->type == IMG_ENT_DIR) && e->fd < 0)
		data[0] = '!';
	snprintf(s->text + len, sizeof s->text - len, "%c %s%s%s%s%s\n", tc[e->type], e->rel,
	         e->link ? " -> " : "", e->link ? e->link : "", *data ? " = " : "", data);
	return s->skip_dir && e->type == IMG_ENT_DIR && strcmp(e->rel, "b") == 0 ? 1 : 0;
}

static char *mktree(void)
{
	char *root = xasprintf("%s/tree", img_test_tmpdir);
	char *target;

	mkdir(root, 0755);
	put(root, "Z", "upper");
	put(root, "a", "aaa");
	sub(root, "b", mkdir_at, NULL);
	put(root, "b/x", "x");
	sub(root, "b/c", mkdir_at, NULL);
	put(root, "b/c/deep", "deep");
	sub(root, "b/link", symlink_at, "../a");
	sub(root, "dirlink", symlink_at, "b");     /* not followed */
	target = xasprintf("%s/a", root);
	sub(root, "b/hard", link_at, target);      /* a later name of "a" */
	free(target);
	return root;
}

TEST(dirwalk_order_links)
{
	char *root = mktree();
	struct seen s = { .n = 0 };

	IMG_ASSERT_EQ_INT(img_dirwalk_run(root, record, &s), 0);
	IMG_ASSERT_EQ_STR(s.text,
	                  "f Z = upper\n"
	                  "f a = aaa\n"
	                  "d b\n"
	                  "d b/c\n"
	                  "f b/c/deep = deep\n"
	                  "h b/hard -> a\n"
	                  "s b/link -> ../a\n"
	                  "f b/x = x\n"
	                  "s dirlink -> b\n");
	free(root);
}

TEST(dirwalk_skip_and_stop)
{
	char *root = mktree();
	struct seen s = { .skip_dir = 1 };

	IMG_ASSERT_EQ_INT(img_dirwalk_run(root, record, &s), 0);
	/* without descending into b, "a" has no later name to see */
	IMG_ASSERT_EQ_STR(s.text, "f Z = upper\nf a = aaa\nd b\ns dirlink -> b\n");
	memset(&s, 0, sizeof s);
	s.fail_at = 4;
	IMG_ASSERT_EQ_INT(img_dirwalk_run(root, record, &s), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "stop at b/c");
	IMG_ASSERT_EQ_INT(s.n, 4);
	free(root);
}

TEST(dirwalk_special_and_errors)
{
	char *root = xasprintf("%s/sp", img_test_tmpdir);
	char *sock = xasprintf("%s/sock", root);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct seen s = { .n = 0 };
	int fd;

	IMG_ASSERT_EQ_INT(mkdir(root, 0755), 0);
	IMG_ASSERT_EQ_INT(sub(root, "fifo", mkfifo_at, NULL), 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT(strlen(sock) < sizeof sa.sun_path);
	strcpy(sa.sun_path, sock);
	IMG_ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	IMG_ASSERT_EQ_INT(img_dirwalk_run(root, record, &s), 0);
	close(fd);
	IMG_ASSERT_EQ_STR(s.text, "p fifo\no sock\n");

	free(root);
	root = xasprintf("%s/absent", img_test_tmpdir);
	IMG_ASSERT_EQ_INT(img_dirwalk_run(root, record, &s), -1);
	IMG_ASSERT(strstr(img_errmsg(), "cannot open '") == img_errmsg());
	IMG_ASSERT(strstr(img_errmsg(), "No such file") != NULL);
	free(root);
	free(sock);
}
