/* img-build: a Dockerfile built into an image in the store without a daemon, as `docker
 * build` does: RUN steps run with runc over an overlay of the image so far (their layer is
 * the overlay's upper directory), COPY and ADD write layers from the context, the other
 * instructions change the config; every step is cached in the store by what it depends
 * on; SOURCE_DATE_EPOCH fixes every timestamp. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "img.h"
#include "cli.h"
#include "config.h"
#include "dockerfile.h"
#include "dirwalk.h"
#include "mklayer.h"
#include "copy.h"
#include "bstate.h"
#include "unpack.h"
#include "bundle.h"
#include "run.h"
#include "snap.h"

enum {
	OPT_BUILD_ARG = 256, OPT_COMPRESS, OPT_NO_CACHE, OPT_PLATFORM,
	OPT_PROGRESS, OPT_TARGET,
};

static const struct option longopts[] = {
	{ "build-arg",    required_argument, NULL, OPT_BUILD_ARG },
	{ "compress",     required_argument, NULL, OPT_COMPRESS },
	{ "file",         required_argument, NULL, 'f' },
	IMG_CLI_OPT_HELP,
	IMG_CLI_OPT_LIST_OPTIONS,
	{ "no-cache",     no_argument,       NULL, OPT_NO_CACHE },
	{ "platform",     required_argument, NULL, OPT_PLATFORM },
	{ "progress",     required_argument, NULL, OPT_PROGRESS },
	{ "store",        required_argument, NULL, 'S' },
	{ "tag",          required_argument, NULL, 't' },
	{ "target",       required_argument, NULL, OPT_TARGET },
	IMG_CLI_OPT_VERSION,
	{ NULL, 0, NULL, 0 },
};

static const char *const synopsis[] = {
	"[-S DIR] [-f Dockerfile] [-t NAME]... [--build-arg K=V]... [--target STAGE] "
	"[--no-cache] [--platform P] [--compress gzip|zstd|none] [--progress M] CONTEXT",
	NULL
};

static const char help_text[] =
	"Build the image a Dockerfile describes from the directory CONTEXT, name it, and\n"
	"print its manifest digest. RUN steps run with runc (as root).\n"
	"\n"
	"      --build-arg K=V     set the build argument K (K alone: the value here)\n"
	"      --compress ALG      layer compression: gzip (default), zstd or none\n"
	"  -f, --file FILE         the Dockerfile (default CONTEXT/Dockerfile; - stdin)\n"
	"  -h, --help              show this help and exit\n"
	"      --no-cache          run every step again (the cache is still written)\n"
	"      --platform P        os/arch[/variant] of FROM images and of scratch\n"
	"      --progress M        steps on stderr: auto, tty, plain or none\n"
	IMG_CLI_HELP_STORE_PAD("       ")
	"  -t, --tag NAME          name the image NAME; repeatable\n"
	"      --target STAGE      build up to the stage named STAGE\n"
	"      --version           print the version and exit\n";

struct opts {
	const char *store, *file, *target, *pstr, *context;
	const char **tags;
	size_t ntags, tags_cap;
	json_t *bargs;              /* "K=V" */
	int nocache;
	enum img_comp comp;
	enum img_progress_mode progress;
	struct img_platform plat;
};

struct stage {
	char *name;                 /* lower case, or NULL */
	struct img_bstate st;
};

struct build {
	const struct opts *o;
	struct img_store *s;
	struct img_dockerfile df;
	struct img_ignore ig;
	const char *dfname;
	json_t *meta;               /* ARGs before the first FROM: "K=V" */
	json_t *args;               /* ARGs in scope in this stage */
	struct stage *stages;
	size_t nstages, stcap;
	struct img_bstate cur;
	int cmd_set, quiet, overlay_noted;
	unsigned step, nsteps;
	int64_t sde;
	char *runc;
	struct img_hash *ch;        /* content hash of a COPY's sources */
};

static void
now_str(struct build *b, char *buf, size_t len)
{
	img_util_rfc3339(b->sde >= 0 ? b->sde : (int64_t)time(NULL), buf, len);
}

/* The cache key of the current step: the image so far, the instruction, the build
 * arguments in scope, what changes layers (compression, SOURCE_DATE_EPOCH), and the
 * content hash of what a COPY reads (extra, or NULL). */
static void
step_key(struct build *b, const struct img_df_instr *in, const struct img_digest *extra,
         struct img_digest *key)
{
	struct img_hash *h = img_digest_hash_new(IMG_SHA256);
	char *a = img_json_dump(b->args, NULL);
	char *t = xasprintf("img-build cache 1\n%s\n%s\n%s\n%s\n%lld\n%s\n", b->cur.manifest.str,
	                    in->text, a, img_comp_name(b->o->comp), (long long)b->sde,
	                    extra ? extra->str : "-");

	img_digest_hash_update(h, t, strlen(t));
	img_digest_hash_final(h, key);
	img_digest_hash_free(h);
	free(t);
	free(a);
}

/* A cache hit becomes the current state: 1; else 0. */
static int
cache_use(struct build *b, const struct img_digest *key)
{
	struct img_digest m;
	struct img_bstate st;

	if (b->o->nocache || img_run_build_cache_get(b->s, key, &m) != 1)
		return 0;
	if (!img_bstate_read(b->s, &m, &st))
		return 0;
	img_bstate_release(&b->cur);
	b->cur = st;
	if (!b->quiet)
		fprintf(stderr, "--> Using cache %s\n", m.str);
	return 1;
}

static int
cache_put(struct build *b, const struct img_digest *key)
{
	return img_run_build_cache_put(b->s, key, &b->cur.manifest);
}

/* ---- RUN ---- */

/* Directories runc makes as mount points, left out of the layer when they are new. */
struct runskip { const char *lower; };

static int
skip_mountpoints(void *arg, const char *rel, int is_dir)
{
	static const char *const mp[] = { "proc", "dev", "sys", "dev/pts", "dev/shm", "dev/mqueue" };
	struct runskip *rs = arg;

	if (!is_dir)
		return 0;
	for (size_t i = 0; i < sizeof mp / sizeof *mp; i++) {
		if (!strcmp(rel, mp[i])) {
			char *p = xasprintf("%s/%s", rs->lower, rel);
			struct stat st;
			int fresh = lstat(p, &st) < 0;
			free(p);
			return fresh;
		}
	}
	return 0;
}

/* IMG_NO_OVERLAY=1: never mount an overlay (the snapshot comparison, for tests). */
static int
no_overlay(void)
{
	const char *v = getenv("IMG_NO_OVERLAY");

	return v && *v && strcmp(v, "0") != 0;
}

/* Run the instruction in a bundle over the current state; the layer of what it changed.
 * 0, 1 (the command failed: *status), or -1 (img_errmsg). */
static int
run_step(struct build *b, const struct img_df_instr *in, int *status, json_t **layer,
         struct img_digest *diff_id)
{
	json_t *cfg = img_bstate_cfg(&b->cur), *argv = NULL, *desc = NULL, *bdoc = NULL, *v;
	struct img_bundle_opts bo;
	struct img_config ic;
	struct img_snap *snap = NULL;
	char name[40], *lower = NULL, *dir = NULL, *root = NULL, *upper = NULL, **cmd = NULL, **env = NULL;
	unsigned char r[6];
	int rc = -1, created = 0, mounted = 0, dfd = -1, rootfd = -1, lockfd = -1, in0 = -1;
	int have_ic = 0;
	size_t i, n = 0;

	memset(&ic, 0, sizeof ic);
	if (!b->runc && !(b->runc = img_run_find_runc())) {
		img_seterr("runc not found on PATH (install the runc package)");
		return -1;
	}
	if (in->exec) {
		argv = json_incref(in->exec);
	} else {
		json_t *sh = json_object_get(cfg, "Shell");
		argv = json_is_array(sh) && json_array_size(sh) ? json_deep_copy(sh)
		                                                 : json_pack("[ss]", "/bin/sh", "-c");
		json_array_append_new(argv, json_string(in->args));
	}
	if (json_array_size(argv) == 0) {
		img_seterr("no command");
		goto out;
	}
	cmd = xcalloc(json_array_size(argv) + 1, sizeof *cmd);
	json_array_foreach(argv, i, v)
		cmd[n++] = (char *)json_string_value(v);
	/* the build arguments in scope, under Env (which wins) */
	env = xcalloc(json_array_size(b->args) + 1, sizeof *env);
	n = 0;
	json_array_foreach(b->args, i, v) {
		const char *kv = json_string_value(v), *eq = strchr(kv, '=');
		char *k = xstrndup(kv, (size_t)(eq - kv));
		if (!img_bstate_kv_get(json_object_get(cfg, "Env"), k))
			env[n++] = (char *)kv;
		free(k);
	}
	if (!(lower = img_bstate_unpacked(b->s, &b->cur)))
		goto out;
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
		img_seterr_errno("getrandom");
		goto out;
	}
	snprintf(name, sizeof name, "img-build-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
	         r[4], r[5]);
	desc = img_image_desc_new(IMG_MT_OCI_MANIFEST, &b->cur.manifest, b->cur.mlen);
	if (img_run_container_new(b->s, name, desc, &dir, &lockfd) < 0)
		goto out;
	created = 1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    mkdirat(dfd, "rootfs", 0755) < 0 || mkdirat(dfd, "upper", 0755) < 0 ||
	    mkdirat(dfd, "work", 0700) < 0) {
		img_seterr_errno("%s", dir);
		goto out;
	}
	root = xasprintf("%s/rootfs", dir);
	upper = xasprintf("%s/upper", dir);
	if (!no_overlay() && img_run_overlay(lower, dir) == 0) {
		mounted = 1;
	} else if (!no_overlay() && !b->overlay_noted && !b->quiet) {
		warnx("note: cannot mount an overlay (%s): RUN layers come from comparing the "
		      "files before and after", strerror(errno));
		b->overlay_noted = 1;
	}
	if ((rootfd = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		img_seterr_errno("%s", root);
		goto out;
	}
	/* no overlay: a copy of the image so far, and its state before the command */
	if (!mounted && (img_bstate_unpack_into(b->s, &b->cur, rootfd) < 0 ||
	                 !(snap = img_snap_take(root))))
		goto out;
	{
		char *cb = img_json_dump(b->cur.config, NULL);
		int pr = img_image_config_parse(cb, strlen(cb), &ic);
		free(cb);
		if (pr < 0)
			goto out;
		have_ic = 1;
	}
	memset(&bo, 0, sizeof bo);
	bo.cmd = cmd;
	bo.ncmd = json_array_size(argv);
	bo.entrypoint = "";
	bo.env = env;
	bo.nenv = n;
	bo.hostname = "img-build";
	if (!(bdoc = img_bundle_config(&ic, rootfd, &bo)) || img_bundle_write(dfd, bdoc) < 0)
		goto out;
	close(rootfd);
	rootfd = -1;
	if ((in0 = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		img_seterr_errno("/dev/null");
		goto out;
	}
	fflush(stderr);
	*status = img_run_runc(b->runc, dir, name, 0, in0, 2);
	if (*status < 0)
		goto out;
	if (mounted && umount2(root, 0) < 0 && umount2(root, MNT_DETACH) < 0) {
		img_seterr_errno("cannot unmount '%s'", root);
		goto out;
	}
	mounted = 0;
	if (*status != 0) {
		rc = 1;
		goto out;
	}
	{
		struct img_mklayer_opts lo = { .comp = b->o->comp, .level = -1, .clamp = b->sde,
		                               .progress = IMG_PROGRESS_NONE };
		struct runskip rs = { lower };
		struct img_mklayer_map m = { .uid = -1, .gid = -1, .mode = -1, .overlay = 1,
		                             .skip = skip_mountpoints, .skip_arg = &rs };
		struct img_mklayer *l = img_mklayer_begin(b->s, &lo);
		struct img_digest blob;
		int64_t bsize;
		if (!l || (snap ? img_snap_layer(snap, root, l, skip_mountpoints, &rs)
		               : img_mklayer_dir(l, upper, &m)) < 0 ||
		    img_mklayer_finish(l, &blob, &bsize, diff_id) < 0) {
			img_mklayer_free(l);
			goto out;
		}
		img_mklayer_free(l);
		*layer = img_image_desc_new(img_comp_media_type(b->o->comp), &blob, bsize);
	}
	rc = 0;
out:
	if (mounted)
		(void)umount2(root, MNT_DETACH);
	if (rootfd >= 0)
		close(rootfd);
	if (dfd >= 0)
		close(dfd);
	if (in0 >= 0)
		close(in0);
	if (created) {
		char *keep = rc < 0 ? xstrdup(img_errmsg()) : NULL;
		if (img_run_container_remove(b->s, name) < 0 && rc >= 0)
			rc = -1;
		if (keep) {
			img_seterr("%s", keep);
			free(keep);
		}
	}
	if (lockfd >= 0)
		close(lockfd);
	if (have_ic)
		img_image_config_release(&ic);
	img_snap_free(snap);
	json_decref(bdoc);
	json_decref(desc);
	json_decref(argv);
	free(cmd);
	free(env);
	free(lower);
	free(dir);
	free(root);
	free(upper);
	return rc;
}

/* ---- COPY and ADD ---- */

/* Owner of --chown=USER[:GROUP] (numbers, or names through the image's /etc). */
static int
chown_of(struct build *b, const char *spec, int64_t *uid, int64_t *gid)
{
	char *root;
	int fd, rc;
	unsigned u, g, *gids = NULL;
	size_t ng;
	char *home = NULL;

	if (!(root = img_bstate_unpacked(b->s, &b->cur)))
		return -1;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(root);
	if (fd < 0) {
		img_seterr_errno("the image so far");
		return -1;
	}
	rc = img_bundle_user(fd, spec, &u, &g, &gids, &ng, &home);
	close(fd);
	free(gids);
	free(home);
	if (rc == 0) {
		*uid = u;
		*gid = g;
	}
	return rc;
}

/* Work out what a COPY or ADD reads and where it writes. 0 or -1. */
static int
plan_make(struct build *b, const struct img_df_instr *in, int is_add, struct img_copy *p)
{
	json_t *cfg = img_bstate_cfg(&b->cur), *env = json_object_get(cfg, "Env");
	const char *from = img_dockerfile_flag(in, "from"), *chown = img_dockerfile_flag(in, "chown");
	const char *chmod = img_dockerfile_flag(in, "chmod");
	char **w = NULL;
	size_t nw = 0, i;
	int rc = -1;

	memset(p, 0, sizeof *p);
	p->uid = p->gid = 0;
	p->mode = -1;
	if (in->exec) {
		json_t *v;
		w = xcalloc(json_array_size(in->exec) + 1, sizeof *w);
		json_array_foreach(in->exec, i, v)
			w[nw++] = img_config_expand(json_string_value(v), env, b->args);
	} else {
		int n = img_config_words(in->args, env, b->args, &w);
		if (n < 0) {
			img_seterr("unbalanced quotes");
			return -1;
		}
		nw = (size_t)n;
	}
	if (nw < 2) {
		img_seterr("a source and a destination are needed");
		goto out;
	}
	if (chmod) {
		char *e;
		long m = strtol(chmod, &e, 8);
		if (*e || !*chmod || m < 0 || m > 07777) {
			img_seterr("invalid --chmod '%s' (octal)", chmod);
			goto out;
		}
		p->mode = (int)m;
	}
	if (from) {
		size_t k;
		for (k = 0; k < b->nstages; k++)
			if (b->stages[k].name && !strcasecmp(b->stages[k].name, from))
				break;
		if (k == b->nstages) {
			char *e;
			unsigned long idx = strtoul(from, &e, 10);
			if (*e || !*from || idx >= b->nstages) {
				img_seterr("--from=%s: no such stage before this one", from);
				goto out;
			}
			k = idx;
		}
		if (!(p->root = img_bstate_unpacked(b->s, &b->stages[k].st)))
			goto out;
		p->uid = p->gid = -1;    /* owners as in the stage */
	} else {
		p->root = xstrdup(b->o->context);
		p->from_ctx = 1;
		p->ig = &b->ig;
	}
	if (chown && chown_of(b, chown, &p->uid, &p->gid) < 0)
		goto out;
	/* the destination, relative to WorkingDir */
	{
		const char *dst = w[nw - 1], *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
		size_t dl = strlen(dst);
		char *joined = dst[0] == '/' ? xstrdup(dst) : xasprintf("%s/%s", wd ? wd : "/", dst);
		p->dest = img_copy_clean(joined);
		free(joined);
		p->destdir = (dl && dst[dl - 1] == '/') || nw > 2 || !strcmp(dst, ".") || !*p->dest;
	}
	for (i = 0; i + 1 < nw; i++) {
		const char *src = w[i];
		char *rel, *pat;
		glob_t g;
		int gr;

		if (!strncmp(src, "http://", 7) || !strncmp(src, "https://", 8) ||
		    !strncmp(src, "git@", 4)) {
			img_seterr("%s: '%s': URLs are not fetched (builds are offline); download it "
			           "into the context and COPY it", in->kw, src);
			goto out;
		}
		rel = img_copy_clean(src);
		pat = *rel ? xasprintf("%s/%s", p->root, rel) : xstrdup(p->root);
		memset(&g, 0, sizeof g);
		gr = glob(pat, GLOB_PERIOD, NULL, &g);
		free(pat);
		if (gr != 0) {
			globfree(&g);
			img_seterr("'%s': no such file or directory in the %s", src,
			           p->from_ctx ? "context" : "stage");
			free(rel);
			goto out;
		}
		for (size_t k = 0; k < g.gl_pathc; k++) {
			const char *gp = g.gl_pathv[k] + strlen(p->root);
			char *r = img_copy_clean(gp);
			if (p->from_ctx && b->ig.n && *r && img_dockerfile_ignore_match(&b->ig, r)) {
				free(r);
				continue;
			}
			IMG_GROW(p->v, p->n + 1, p->cap);
			p->v[p->n].path = xstrdup(g.gl_pathv[k]);
			p->v[p->n].rel = r;
			p->v[p->n].archive = is_add && p->from_ctx && img_copy_is_archive(g.gl_pathv[k]);
			p->n++;
		}
		if (g.gl_pathc > 1)
			p->destdir = 1;
		globfree(&g);
		free(rel);
	}
	if (p->n == 0) {
		img_seterr("no source files were specified (all excluded by .dockerignore?)");
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < nw; i++)
		free(w[i]);
	free(w);
	return rc;
}

/* ---- the steps ---- */

/* FROM IMAGE|scratch|STAGE [AS NAME]: a new stage. */
static int
from_step(struct build *b, const struct img_df_instr *in)
{
	char **w = NULL;
	int n = img_config_words(in->args, NULL, b->meta, &w), rc = -1;
	struct stage *sg;
	size_t k;

	if (n != 1 && !(n == 3 && !strcasecmp(w[1], "AS"))) {
		img_seterr("FROM takes IMAGE [AS NAME]");
		goto out;
	}
	IMG_GROW(b->stages, b->nstages + 1, b->stcap);
	sg = &b->stages[b->nstages];
	memset(sg, 0, sizeof *sg);
	if (n == 3) {
		sg->name = xstrdup(w[2]);
		for (char *c = sg->name; *c; c++)
			*c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
	}
	img_bstate_release(&b->cur);
	json_decref(b->args);
	b->args = json_array();
	b->cmd_set = 0;
	for (k = 0; k < b->nstages; k++)
		if (b->stages[k].name && !strcasecmp(b->stages[k].name, w[0]))
			break;
	if (k < b->nstages) {
		img_bstate_copy(&b->cur, &b->stages[k].st);
	} else if (!strcmp(w[0], "scratch")) {
		const struct img_platform *pl = &b->o->plat;
		json_t *c = json_object();
		json_object_set_new(c, "architecture", json_string(pl->arch));
		json_object_set_new(c, "os", json_string(pl->os));
		if (pl->variant[0])
			json_object_set_new(c, "variant", json_string(pl->variant));
		json_object_set_new(c, "config", json_object());
		json_object_set_new(c, "rootfs", json_pack("{s:s,s:[]}", "type", "layers", "diff_ids"));
		b->cur.config = c;
		b->cur.layers = json_array();
		if (img_bstate_write(b->s, &b->cur) < 0)
			goto out;
	} else {
		json_t *index = img_store_index(b->s);
		size_t *m = NULL, nm = 0;
		struct img_desc top, mdesc;
		struct img_doc man;
		struct img_config cfg;
		int r = -1;
		if (index && img_store_resolve(b->s, index, w[0], &m, &nm) == 0 &&
		    img_image_desc_parse(json_array_get(json_object_get(index, "manifests"), m[0]), &top) == 0 &&
		    img_store_image(b->s, &top, b->o->pstr ? &b->o->plat : NULL, &man, &mdesc, &cfg) == 0) {
			b->cur.config = json_deep_copy(cfg.root);
			b->cur.layers = json_deep_copy(json_object_get(man.root, "layers"));
			b->cur.manifest = mdesc.digest;
			b->cur.mlen = mdesc.size;
			img_image_doc_release(&man);
			img_image_config_release(&cfg);
			r = 0;
		}
		free(m);
		json_decref(index);
		if (r < 0)
			goto out;
	}
	b->nstages++;
	rc = 0;
out:
	img_config_words_free(w);
	return rc;
}

/* ARG NAME[=default] ...: in scope from here on, --build-arg first. */
static int
arg_step(struct build *b, const struct img_df_instr *in, json_t *into, json_t *env)
{
	char **w = NULL;
	int n = img_config_words(in->args, env, b->meta == into ? NULL : b->args, &w);

	if (n <= 0) {
		img_config_words_free(w);
		img_seterr(n < 0 ? "unbalanced quotes" : "ARG requires a name");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *eq = strchr(w[i], '=');
		const char *v;
		if (eq)
			*eq = '\0';
		if (!*w[i]) {
			img_seterr("ARG: empty name");
			img_config_words_free(w);
			return -1;
		}
		if ((v = img_bstate_kv_get(b->o->bargs, w[i])))
			img_bstate_kv_set(into, w[i], v);
		else if (eq)
			img_bstate_kv_set(into, w[i], eq + 1);
		else if (into != b->meta && (v = img_bstate_kv_get(b->meta, w[i])))
			img_bstate_kv_set(into, w[i], v);
	}
	img_config_words_free(w);
	return 0;
}

/* One instruction of a stage: -1 error (img_errmsg), 1 a RUN failed, else 0. */
static int
do_step(struct build *b, const struct img_df_instr *in, int *status)
{
	const char *kw = in->kw;
	struct img_digest key, diff_id, chash;
	json_t *layer = NULL;
	int is_run = !strcmp(kw, "RUN"), is_copy = !strcmp(kw, "COPY"), is_add = !strcmp(kw, "ADD");
	struct img_copy p;
	char created[40];
	int r;

	if (!strcmp(kw, "FROM"))
		return from_step(b, in);
	if (!strcmp(kw, "ARG"))
		return arg_step(b, in, b->args, json_object_get(img_bstate_cfg(&b->cur), "Env"));
	memset(&p, 0, sizeof p);
	if (is_copy || is_add) {
		if (plan_make(b, in, is_add, &p) < 0 || img_copy_hash(&p, &chash) < 0) {
			img_copy_release(&p);
			return -1;
		}
	}
	step_key(b, in, is_copy || is_add ? &chash : NULL, &key);
	if (cache_use(b, &key)) {
		img_copy_release(&p);
		return 0;
	}
	if (is_run) {
		r = run_step(b, in, status, &layer, &diff_id);
		if (r != 0)
			return r;
	} else if (is_copy || is_add) {
		struct img_mklayer_opts lo = { .comp = b->o->comp, .level = -1, .clamp = b->sde,
		                               .progress = IMG_PROGRESS_NONE };
		char *lower = img_bstate_unpacked(b->s, &b->cur);
		r = lower ? img_copy_layer(&p, b->s, &lo, lower, &layer, &diff_id) : -1;
		free(lower);
		img_copy_release(&p);
		if (r < 0)
			return -1;
	} else if (!strcmp(kw, "SHELL")) {
		json_object_set(img_bstate_cfg(&b->cur), "Shell", in->exec);
	} else if (!strcmp(kw, "MAINTAINER")) {
		json_object_set_new(b->cur.config, "author", json_string(in->args));
	} else if (img_config_change_vars(img_bstate_cfg(&b->cur), in->text, &b->cmd_set, b->args) < 0) {
		return -1;
	}
	now_str(b, created, sizeof created);
	if (img_bstate_commit(b->s, &b->cur, created, in->text, layer, &diff_id) < 0 ||
	    cache_put(b, &key) < 0)
		return -1;
	return 0;
}

struct name_arg { const char *const *names; size_t n; json_t *desc; };

static int
set_names(json_t *index, void *arg)
{
	struct name_arg *na = arg;
	json_t *before = json_deep_copy(index);
	int rc = img_index_put(index, na->desc, na->names, na->n) < 0 ? -1
	       : json_equal(before, index) ? 1 : 0;    /* 1: nothing to write */

	json_decref(before);
	return rc;
}

static char *
read_all(const char *path, size_t cap, size_t *len)
{
	int fd = img_io_open_in(path);
	char *buf;
	size_t n = 0, sz = 8192;

	if (fd < 0)
		return NULL;
	buf = xmalloc(sz);
	for (;;) {
		ssize_t r;
		if (n + 1 >= sz) {
			if (sz >= cap) {
				img_seterr("'%s': larger than %zu bytes", path, cap);
				free(buf);
				close(fd);
				return NULL;
			}
			sz *= 2;
			buf = xrealloc(buf, sz);
		}
		r = read(fd, buf + n, sz - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			img_seterr_errno("cannot read '%s'", path);
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (fd != 0)
		close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
build(struct opts *o, const char *const *canon)
{
	struct build b;
	char *text = NULL, *path = NULL;
	size_t len, i, last;
	unsigned errline;
	int rc = 1, status = 0;
	json_t *desc = NULL;

	memset(&b, 0, sizeof b);
	b.o = o;
	b.sde = img_util_source_date_epoch();
	b.quiet = o->progress == IMG_PROGRESS_NONE;
	b.meta = json_array();
	b.args = json_array();
	path = o->file ? xstrdup(o->file) : xasprintf("%s/Dockerfile", o->context);
	b.dfname = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!(text = read_all(path, 1 << 20, &len))) {
		warnx("%s", img_errmsg());
		goto out;
	}
	if (img_dockerfile_parse(text, len, &b.df, &errline) < 0) {
		warnx("%s:%u: %s", b.dfname, errline, img_errmsg());
		goto out;
	}
	if (b.df.syntax && !b.quiet)
		warnx("note: '# syntax=%s' ignored (img-build parses the Dockerfile itself)", b.df.syntax);
	free(text);
	{
		char *ip = xasprintf("%s/.dockerignore", o->context);
		if (access(ip, F_OK) == 0) {
			if (!(text = read_all(ip, 1 << 20, &len))) {
				warnx("%s", img_errmsg());
				free(ip);
				goto out;
			}
			img_dockerfile_ignore_parse(text, len, &b.ig);
		} else {
			text = NULL;
		}
		free(ip);
	}
	/* the steps: from the first FROM to the end of the target stage */
	last = b.df.n;
	for (i = 0; i < b.df.n && strcmp(b.df.in[i].kw, "FROM"); i++)
		;
	{
		size_t first = i, k;
		int found = !o->target;
		for (k = first; k < b.df.n; k++) {
			const struct img_df_instr *in = &b.df.in[k];
			if (found && !strcmp(in->kw, "FROM") && k > first && o->target) {
				last = k;
				break;
			}
			if (!strcmp(in->kw, "FROM") && o->target) {
				char **w;
				int n = img_config_words(in->args, NULL, NULL, &w);
				if (n == 3 && !strcasecmp(w[2], o->target))
					found = 1;
				img_config_words_free(w);
			}
		}
		if (!found) {
			warnx("--target %s: no stage of that name", o->target);
			goto out;
		}
		b.nsteps = (unsigned)(last - first);
	}
	if (!(b.s = img_cli_open_store(o->store, IMG_STORE_CREATE)))
		goto out;
	/* shared for the whole build: the new blobs stay safe from img-gc until named */
	if (img_store_lock(b.s, IMG_LOCK_SHARED, img_cli_waiting, NULL) < 0) {
		warnx("%s", img_errmsg());
		goto out;
	}
	for (i = 0; i < last; i++) {
		const struct img_df_instr *in = &b.df.in[i];
		if (b.nstages == 0 && strcmp(in->kw, "FROM")) {
			if (arg_step(&b, in, b.meta, NULL) < 0) {
				warnx("%s:%u: %s", b.dfname, in->line, img_errmsg());
				goto out;
			}
			continue;
		}
		b.step++;
		if (!b.quiet)
			fprintf(stderr, "STEP %u/%u: %s\n", b.step, b.nsteps, in->text);
		if (!strcmp(in->kw, "FROM") && b.nstages > 0) {
			/* the stage before ends here */
			b.stages[b.nstages - 1].st = b.cur;
			memset(&b.cur, 0, sizeof b.cur);
		}
		{
			int r = do_step(&b, in, &status);
			if (r < 0) {
				warnx("step %u/%u: %s: %s", b.step, b.nsteps, in->text, img_errmsg());
				goto out;
			}
			if (r == 1) {
				warnx("step %u/%u: %s: exit status %d", b.step, b.nsteps, in->text, status);
				goto out;
			}
		}
	}
	desc = img_image_desc_new(IMG_MT_OCI_MANIFEST, &b.cur.manifest, b.cur.mlen);
	{
		struct name_arg na = { canon, o->ntags, desc };
		if (img_store_index_update(b.s, set_names, &na) < 0) {
			warnx("index.json: %s", img_errmsg());
			goto out;
		}
	}
	printf("%s\n", b.cur.manifest.str);
	rc = 0;
out:
	json_decref(desc);
	for (i = 0; i < b.nstages; i++) {
		free(b.stages[i].name);
		img_bstate_release(&b.stages[i].st);
	}
	free(b.stages);
	img_bstate_release(&b.cur);
	json_decref(b.meta);
	json_decref(b.args);
	img_dockerfile_ignore_release(&b.ig);
	img_dockerfile_release(&b.df);
	img_store_close(b.s);
	free(b.runc);
	free(text);
	free(path);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct opts o;
	char **canon = NULL;
	int c, rc;

	img_util_setprogname(argv[0]);
	memset(&o, 0, sizeof o);
	o.comp = IMG_COMP_GZIP;
	o.progress = IMG_PROGRESS_AUTO;
	o.bargs = json_array();
	while ((c = getopt_long(argc, argv, "f:hS:t:", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BUILD_ARG: {
			const char *eq = strchr(optarg, '=');
			if (eq == optarg) {
				warnx("invalid --build-arg '%s' (K=V)", optarg);
				img_cli_usage(synopsis);
			}
			if (eq) {
				char *k = xstrndup(optarg, (size_t)(eq - optarg));
				img_bstate_kv_set(o.bargs, k, eq + 1);
				free(k);
			} else if (getenv(optarg)) {
				img_bstate_kv_set(o.bargs, optarg, getenv(optarg));
			}
			break;
		}
		case OPT_COMPRESS:
			if (img_comp_parse(optarg, &o.comp) < 0) {
				warnx("invalid compression '%s' (gzip, zstd or none)", optarg);
				img_cli_usage(synopsis);
			}
			break;
		case 'f':
			o.file = optarg;
			break;
		case OPT_NO_CACHE:
			o.nocache = 1;
			break;
		case OPT_PLATFORM:
			o.pstr = optarg;
			img_cli_platform(optarg, &o.plat, synopsis);
			break;
		case OPT_PROGRESS:
			o.progress = img_cli_progress(optarg, synopsis);
			break;
		case 'S':
			o.store = optarg;
			break;
		case 't':
			IMG_GROW(o.tags, o.ntags + 1, o.tags_cap);
			o.tags[o.ntags++] = optarg;
			break;
		case OPT_TARGET:
			o.target = optarg;
			break;
		default:
			rc = img_cli_option(c, longopts, synopsis, help_text);
			json_decref(o.bargs);
			free(o.tags);
			return rc;
		}
	}
	if (argc - optind != 1)
		img_cli_usage(synopsis);
	o.context = argv[optind];
	if (!o.pstr)
		img_image_platform_host(&o.plat);
	canon = xcalloc(o.ntags + 1, sizeof *canon);
	for (size_t i = 0; i < o.ntags; i++) {
		struct img_ref ref;
		if (img_ref_parse(o.tags[i], &ref) < 0 || ref.digest) {
			if (ref.digest)
				img_ref_release(&ref);
			errx(2, "invalid name '%s': %s", o.tags[i],
			     ref.digest ? "a digest cannot name a build" : img_errmsg());
		}
		canon[i] = img_ref_canonical(&ref);
		img_ref_release(&ref);
	}
	{
		struct stat st;
		if (stat(o.context, &st) < 0 || !S_ISDIR(st.st_mode))
			errx(1, "context '%s': %s", o.context, errno ? strerror(errno) : "not a directory");
	}
	rc = build(&o, (const char *const *)canon);
	for (size_t i = 0; i < o.ntags; i++)
		free(canon[i]);
	free(canon);
	free(o.tags);
	json_decref(o.bargs);
	return img_cli_finish(rc);
}
