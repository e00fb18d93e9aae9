/* img-run: run an image with runc (docker run without a daemon). The image is unpacked
 * once into the store's run area and shared, read-only, by its containers through an
 * overlay mount (each container writes to an upper directory of its own); the bundle's
 * config.json comes from the image config and the options; runc runs it. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "arcimg.h"
#include "unpack.h"
#include "bundle.h"
#include "run.h"

enum { OPT_RM = 256, OPT_ENTRYPOINT, OPT_NAME, OPT_READ_ONLY };

static const struct option longopts[] = {
	{ "detach",       no_argument,       NULL, 'd' },
	{ "entrypoint",   required_argument, NULL, OPT_ENTRYPOINT },
	{ "env",          required_argument, NULL, 'e' },
	IMG_CLI_OPT_HELP,
	{ "interactive",  no_argument,       NULL, 'i' },
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "name",         required_argument, NULL, OPT_NAME },
	{ "platform",     required_argument, NULL, 'p' },
	{ "read-only",    no_argument,       NULL, OPT_READ_ONLY },
	{ "rm",           no_argument,       NULL, OPT_RM },
	{ "store",        required_argument, NULL, 'S' },
	{ "tty",          no_argument,       NULL, 't' },
	{ "user",         required_argument, NULL, 'u' },
	IMG_CLI_OPT_VERSION,
	{ "workdir",      required_argument, NULL, 'w' },
	{ NULL, 0, NULL, 0 }
};

static const char *const synopsis[] = {
	"[-S DIR] [--rm] [-d] [-i] [-t] [--name N] [-e K=V]... [-w DIR] [-u USER] "
	"[--entrypoint E] [--read-only] [--platform P] IMAGE [CMD ARG...]",
	NULL
};

static const char help_text[] =
	"Run IMAGE in a new container with runc: its Entrypoint and Cmd, or CMD ARG...\n"
	"The exit status is the container's. See runc list, runc kill, runc delete.\n"
	"\n"
	"  -d, --detach          start the container and print its name; its output goes\n"
	"                        to the file log in its bundle\n"
	"      --entrypoint E    run E instead of the image's Entrypoint (and Cmd)\n"
	"  -e, --env K=V         set a variable (K alone: the value here), repeatable\n"
	"  -h, --help            print this help and exit\n"
	"  -i, --interactive     keep standard input open (else it is /dev/null)\n"
	"      --name N          the container's name (default img-<12 hex digits>)\n"
	"  -p, --platform P      the platform to pick from a multi-platform image\n"
	"      --read-only       mount the container's root filesystem read-only\n"
	"      --rm              remove the container and its bundle when it exits\n"
	IMG_CLI_HELP_STORE_PAD("     ")
	"  -t, --tty             give the process a terminal\n"
	"  -u, --user USER       run as USER[:GROUP] (names from the image's /etc)\n"
	"      --version         print the version and exit\n"
	"  -w, --workdir DIR     the working directory in the container\n";

struct run_opts {
	const char *store, *name, *user, *workdir, *entrypoint, *pstr;
	struct img_platform plat;
	int rm, detach, interactive, tty, readonly;
	char **env;
	size_t nenv;
	char **cmd;
	size_t ncmd;
	const char *image;
};

struct fill_arg {
	struct img_view *v;
};

static int fill(void *arg, int rootfd)
{
	struct fill_arg *f = arg;

	return img_unpack_view(f->v, rootfd, geteuid() == 0 ? IMG_UNPACK_OWNERS : 0, NULL, NULL);
}

/* The manifest's descriptor (what the container's "image" file keeps for img-gc). */
static json_t *manifest_desc(struct img_store *s, const struct img_view *v)
{
	char *buf;
	size_t len;
	struct img_doc doc;
	json_t *d;

	if (img_blob_read(s, &v->manifest_digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return NULL;
	if (img_image_doc_parse(buf, len, NULL, &doc) < 0) {
		free(buf);
		return NULL;
	}
	d = img_image_desc_new(doc.media_type, &v->manifest_digest, (int64_t)len);
	img_image_doc_release(&doc);
	free(buf);
	return d;
}

static int run_detached(const char *runc, const char *dir, const char *name)
{
	const char *argv[] = { runc, "run", "--detach", "--bundle", dir, name, NULL };
	char *log = xasprintf("%s/log", dir);
	int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	pid_t pid;
	int st = 1;

	if (in < 0 || out < 0) {
		warn("%s", log);
	} else if ((pid = img_run_spawn(argv, in, out)) > 0) {
		st = img_run_wait(pid);
	} else {
		warnx("%s", img_errmsg());
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (st != 0) {
		/* what runc said went to the log: show it */
		FILE *f = fopen(log, "r");
		char line[1024];
		while (f && fgets(line, sizeof(line), f))
			fputs(line, stderr);
		if (f)
			fclose(f);
	}
	free(log);
	return st;
}

static int run(struct run_opts *o)
{
	struct img_store *s = NULL;
	struct img_view v;
	struct img_bundle_opts bo;
	struct fill_arg fa;
	json_t *desc = NULL, *doc = NULL;
	char *runc = NULL, *lower = NULL, *dir = NULL, name_buf[32];
	const char *name = o->name;
	int have_view = 0, made = 0, status = 1, dfd = -1, rootfd = -1, created = 0, mounted = 0;
	int in = -1, lockfd = -1;

	if (!(runc = img_run_find_runc())) {
		warnx("runc not found on PATH (install the runc package)");
		return 1;
	}
	if (!name) {
		unsigned char r[6];
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			warn("getrandom");
			goto out;
		}
		snprintf(name_buf, sizeof(name_buf), "img-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
		         r[3], r[4], r[5]);
		name = name_buf;
	}
	if (img_run_runc_knows(name)) {
		warnx("container '%s' exists (runc list; runc delete %s)", name, name);
		goto out;
	}
	if (!(s = img_cli_open_store(o->store, 0)))
		goto out;
	/* shared while the layers are read and the bundle is made; not while it runs */
	if (img_store_lock(s, IMG_LOCK_SHARED, img_cli_waiting, NULL) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (img_view_from_store(s, o->image, o->pstr ? &o->plat : NULL, &v) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	have_view = 1;
	if (!(desc = manifest_desc(s, &v))) {
		warnx("%s: %s", o->image, img_errmsg());
		goto out;
	}
	fa.v = &v;
	if (img_run_image(s, &v.manifest_digest, fill, &fa, &made, &lower) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	/* a bundle left by a container runc no longer knows goes */
	if (img_run_container_reclaim(s, name) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (img_run_container_new(s, name, desc, &dir, &lockfd) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	created = 1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    mkdirat(dfd, "rootfs", 0755) < 0 || mkdirat(dfd, "upper", 0755) < 0 ||
	    mkdirat(dfd, "work", 0700) < 0) {
		warn("%s", dir);
		goto out;
	}
	if (img_run_overlay(lower, dir) == 0) {
		mounted = 1;
	} else {
		/* no overlay here: a copy of the image of the container's own */
		int fd = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fill(&fa, fd) < 0) {
			warnx("%s: %s", o->image, fd < 0 ? strerror(errno) : img_errmsg());
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	}
	if ((rootfd = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		warn("%s/rootfs", dir);
		goto out;
	}
	memset(&bo, 0, sizeof(bo));
	bo.cmd = o->ncmd ? o->cmd : NULL;
	bo.ncmd = o->ncmd;
	bo.entrypoint = o->entrypoint;
	bo.env = o->env;
	bo.nenv = o->nenv;
	bo.workdir = o->workdir;
	bo.user = o->user;
	bo.hostname = name;
	bo.terminal = o->tty;
	bo.readonly = o->readonly;
	if (!(doc = img_bundle_config(&v.config, rootfd, &bo)) || img_bundle_write(dfd, doc) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	close(rootfd);
	rootfd = -1;
	img_view_release(&v);
	have_view = 0;
	img_store_unlock(s);

	if (o->detach) {
		status = run_detached(runc, dir, name);
		if (status == 0) {
			printf("%s\n", name);
			created = 0;     /* it runs: kept */
		}
		goto out;
	}
	if (!o->interactive && (in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		warn("/dev/null");
		goto out;
	}
	fflush(stdout);
	status = img_run_runc(runc, dir, name, !o->rm, in, -1);
	if (!o->rm) {
		/* kept, stopped: its changes stay in upper/ until runc delete and img-gc */
		created = 0;
		if (mounted) {
			char *root = xasprintf("%s/rootfs", dir);
			(void)umount2(root, MNT_DETACH);
			free(root);
		}
	}
out:
	if (created && s && img_run_container_remove(s, name) < 0)
		warnx("%s", img_errmsg());
	if (in >= 0)
		close(in);
	if (lockfd >= 0)
		close(lockfd);
	if (rootfd >= 0)
		close(rootfd);
	if (dfd >= 0)
		close(dfd);
	json_decref(doc);
	json_decref(desc);
	if (have_view)
		img_view_release(&v);
	img_store_close(s);
	free(runc);
	free(lower);
	free(dir);
	return status;
}

int main(int argc, char **argv)
{
	static struct run_opts o;   /* static: what it points to stays reachable */
	int c;

	img_util_setprogname(argv[0]);
	memset(&o, 0, sizeof(o));
	o.env = xcalloc((size_t)argc + 1, sizeof(*o.env));
	/* options stop at IMAGE: CMD ARG... are the container's */
	while ((c = getopt_long(argc, argv, "+de:hip:S:tu:w:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.detach = 1;
			break;
		case 'e':
			o.env[o.nenv++] = optarg;
			break;
		case OPT_ENTRYPOINT:
			o.entrypoint = optarg;
			break;
		case 'i':
			o.interactive = 1;
			break;
		case OPT_NAME:
			o.name = optarg;
			break;
		case 'p':
			o.pstr = optarg;
			img_cli_platform(optarg, &o.plat, synopsis);
			break;
		case OPT_READ_ONLY:
			o.readonly = 1;
			break;
		case OPT_RM:
			o.rm = 1;
			break;
		case 'S':
			o.store = optarg;
			break;
		case 't':
			o.tty = 1;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'w':
			o.workdir = optarg;
			break;
		default:
			return img_cli_option(c, longopts, synopsis, help_text);
		}
	}
	if (optind >= argc)
		img_cli_usage(synopsis);
	if (o.name && !img_run_name_valid(o.name)) {
		warnx("invalid container name '%s' ([A-Za-z0-9][A-Za-z0-9_.-]*)", o.name);
		img_cli_usage(synopsis);
	}
	if (o.detach && (o.rm || o.tty)) {
		warnx("-d does not go with %s", o.rm ? "--rm" : "-t");
		img_cli_usage(synopsis);
	}
	o.image = argv[optind];
	o.cmd = argv + optind + 1;
	o.ncmd = (size_t)(argc - optind - 1);
	{
		int st = run(&o);
		free(o.env);
		return img_cli_finish(st);
	}
}
