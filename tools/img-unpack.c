/* img-unpack: an image's flattened root filesystem written into a directory, or an OCI
 * runtime bundle (DIR/rootfs and DIR/config.json) that runc runs (umoci unpack). */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "arcimg.h"
#include "unpack.h"
#include "bundle.h"

enum { OPT_FORCE = 256, OPT_READ_ONLY };

static const struct option longopts[] = {
	{ "bundle",       no_argument,       NULL, 'b' },
	{ "force",        no_argument,       NULL, OPT_FORCE },
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "platform",     required_argument, NULL, 'p' },
	{ "read-only",    no_argument,       NULL, OPT_READ_ONLY },
	{ "store",        required_argument, NULL, 'S' },
	{ "tty",          no_argument,       NULL, 't' },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 }
};

static const char *const synopsis[] = {
	"[-S DIR] [--force] [--platform P] IMAGE DIR",
	"[-S DIR] [--force] [--platform P] --bundle [--read-only] [-t] IMAGE DIR",
	NULL
};

static const char help_text[] =
	"Write the root filesystem of IMAGE (its layers merged) into DIR, or with --bundle\n"
	"an OCI runtime bundle: DIR/rootfs and DIR/config.json (runc run -b DIR NAME).\n"
	"\n"
	"  -b, --bundle       write DIR/rootfs and DIR/config.json\n"
	"      --force        empty DIR first when it is not empty\n"
	"  -h, --help         print this help and exit\n"
	"  -p, --platform P   the platform to pick from a multi-platform image\n"
	"      --read-only    the bundle's root filesystem is mounted read-only\n"
	IMG_CLI_HELP_STORE
	"  -t, --tty          the bundle's process gets a terminal\n"
	"      --version      print the version and exit\n";

struct unpack_opts {
	const char *store;
	const char *image;
	const char *dir;
	int bundle, force, readonly, tty;
	const char *pstr;
	struct img_platform plat;
};

/* Empty the directory fd (its entries removed, no link followed). */
static int empty_dir(int fd, const char *dir)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int ret = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		warn("%s", dir);
		return -1;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (img_unpack_put_remove_at(fd, de->d_name) < 0) {
			warnx("%s: %s", dir, img_errmsg());
			ret = -1;
			break;
		}
	}
	closedir(d);
	return ret;
}

static int is_empty(int fd)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int empty = 1;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/* DIR opened: made (0700 for a bundle, 0755 else) or existing and empty (emptied with
 * --force). *made says whether it was made here. -1 after a message. */
static int open_target(const struct unpack_opts *o, int *made)
{
	int fd;

	*made = 0;
	if (mkdir(o->dir, o->bundle ? 0700 : 0755) == 0)
		*made = 1;
	else if (errno != EEXIST) {
		warn("%s", o->dir);
		return -1;
	}
	fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		warn("%s", o->dir);
		return -1;
	}
	if (!*made && !is_empty(fd)) {
		if (!o->force) {
			warnx("%s: not empty (--force empties it)", o->dir);
			close(fd);
			return -1;
		}
		if (empty_dir(fd, o->dir) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static int run(struct unpack_opts *o)
{
	struct img_store *s = NULL;
	struct img_view v;
	int have_view = 0, dfd = -1, rootfd = -1, made = 0, status = 1, flags = 0;
	unsigned long devs = 0, xattrs = 0;

	if (!(s = img_cli_open_store(o->store, 0)))
		return 1;
	if (img_cli_lock_reading(s) < 0)
		goto out;
	if (img_view_from_store(s, o->image, o->pstr ? &o->plat : NULL, &v) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	have_view = 1;
	if ((dfd = open_target(o, &made)) < 0)
		goto out;
	rootfd = dfd;
	if (o->bundle) {
		if (mkdirat(dfd, "rootfs", 0755) < 0 ||
		    (rootfd = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			warn("%s/rootfs", o->dir);
			goto fail;
		}
	}
	if (geteuid() == 0)
		flags |= IMG_UNPACK_OWNERS;
	if (img_unpack_view(&v, rootfd, flags, &devs, &xattrs) < 0) {
		warnx("%s", img_errmsg());
		goto fail;
	}
	if (devs)
		warnx("%lu device%s left out (not root)", devs, devs == 1 ? "" : "s");
	if (xattrs && (flags & IMG_UNPACK_OWNERS))
		warnx("%lu extended attribute%s not set (refused by the file system)", xattrs,
		      xattrs == 1 ? "" : "s");
	if (o->bundle) {
		struct img_bundle_opts bo;
		json_t *doc;
		memset(&bo, 0, sizeof(bo));
		bo.terminal = o->tty;
		bo.readonly = o->readonly;
		doc = img_bundle_config(&v.config, rootfd, &bo);
		if (!doc || img_bundle_write(dfd, doc) < 0) {
			warnx("%s: %s", o->dir, img_errmsg());
			json_decref(doc);
			goto fail;
		}
		json_decref(doc);
	}
	status = 0;
	goto out;
fail:
	/* what this run made goes; a directory that was there stays (emptied or partial) */
	if (made) {
		char *copy = xstrdup(o->dir), *slash;
		const char *parent = ".", *base = copy;
		int pfd;
		size_t n = strlen(copy);
		while (n > 1 && copy[n - 1] == '/')
			copy[--n] = '\0';
		if ((slash = strrchr(copy, '/'))) {
			*slash = '\0';
			parent = slash == copy ? "/" : copy;
			base = slash + 1;
		}
		pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0) {
			(void)img_unpack_put_remove_at(pfd, base);
			close(pfd);
		}
		free(copy);
	}
out:
	if (rootfd >= 0 && rootfd != dfd)
		close(rootfd);
	if (dfd >= 0)
		close(dfd);
	if (have_view)
		img_view_release(&v);
	img_store_close(s);
	return status;
}

int main(int argc, char **argv)
{
	struct unpack_opts o;
	int c;

	img_util_setprogname(argv[0]);
	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "bhp:S:t", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.bundle = 1;
			break;
		case OPT_FORCE:
			o.force = 1;
			break;
		case 'p':
			o.pstr = optarg;
			img_cli_platform(optarg, &o.plat, synopsis);
			break;
		case OPT_READ_ONLY:
			o.readonly = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case 't':
			o.tty = 1;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	if (argc - optind != 2 || ((o.readonly || o.tty) && !o.bundle))
		img_cli_usage(synopsis);
	o.image = argv[optind];
	o.dir = argv[optind + 1];
	return img_cli_finish(run(&o));
}
