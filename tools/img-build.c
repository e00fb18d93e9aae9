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
#include "unpack.h"
#include "bundle.h"
#include "run.h"

enum {
	OPT_BUILD_ARG = 256, OPT_COMPRESS, OPT_LIST_OPTIONS, OPT_NO_CACHE, OPT_PLATFORM,
	OPT_PROGRESS, OPT_TARGET, OPT_VERSION,
};

static const struct option longopts[] = {
	{ "build-arg",    required_argument, NULL, OPT_BUILD_ARG },
	{ "compress",     required_argument, NULL, OPT_COMPRESS },
	{ "file",         required_argument, NULL, 'f' },
	{ "help",         no_argument,       NULL, 'h' },
	{ "list-options", no_argument,       NULL, OPT_LIST_OPTIONS },
	{ "no-cache",     no_argument,       NULL, OPT_NO_CACHE },
	{ "platform",     required_argument, NULL, OPT_PLATFORM },
	{ "progress",     required_argument, NULL, OPT_PROGRESS },
	{ "store",        required_argument, NULL, 'S' },
	{ "tag",          required_argument, NULL, 't' },
	{ "target",       required_argument, NULL, OPT_TARGET },
	{ "version",      no_argument,       NULL, OPT_VERSION },
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
	IMG_CLI_HELP_STORE
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

/* An image so far: its config document, its layers, its manifest in the store. */
struct state {
	json_t *config;
	json_t *layers;
	struct img_digest manifest;
	int64_t mlen;
};

struct stage {
	char *name;                 /* lower case, or NULL */
	struct state st;
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
	struct state cur;
	int cmd_set, quiet;
	unsigned step, nsteps;
	int64_t sde;
	char *runc;
	struct img_hash *ch;        /* content hash of a COPY's sources */
};

static void
state_release(struct state *st)
{
	json_decref(st->config);
	json_decref(st->layers);
	memset(st, 0, sizeof *st);
}

static void
state_copy(struct state *dst, const struct state *src)
{
	dst->config = json_deep_copy(src->config);
	dst->layers = json_deep_copy(src->layers);
	dst->manifest = src->manifest;
	dst->mlen = src->mlen;
}

static json_t *
cfg_obj(struct state *st)
{
	json_t *c = json_object_get(st->config, "config");

	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(st->config, "config", c);
	}
	return c;
}

/* The value of K=V entries in arr for k, or NULL. */
static const char *
kv_get(json_t *arr, const char *k)
{
	size_t i, kl = strlen(k);
	json_t *v;

	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		if (s && !strncmp(s, k, kl) && s[kl] == '=')
			return s + kl + 1;
	}
	return NULL;
}

static void
kv_set(json_t *arr, const char *k, const char *v)
{
	size_t i, kl = strlen(k);
	json_t *e;
	char *kv = xasprintf("%s=%s", k, v);

	json_array_foreach(arr, i, e) {
		const char *s = json_string_value(e);
		if (s && !strncmp(s, k, kl) && s[kl] == '=') {
			json_array_set_new(arr, i, json_string(kv));
			free(kv);
			return;
		}
	}
	json_array_append_new(arr, json_string(kv));
	free(kv);
}

/* ---- the state in the store ---- */

/* Write the config and the manifest of st; st->manifest is the new manifest's digest. */
static int
state_write(struct build *b, struct state *st)
{
	struct img_digest cdig;
	char *cbuf, *mbuf;
	size_t clen, mlen;
	json_t *man;
	int rc = -1;

	cbuf = img_json_dump(st->config, &clen);
	if (img_blob_put(b->s, cbuf, clen, &cdig) < 0)
		goto out0;
	man = json_object();
	json_object_set_new(man, "schemaVersion", json_integer(2));
	json_object_set_new(man, "mediaType", json_string(IMG_MT_OCI_MANIFEST));
	json_object_set_new(man, "config", img_desc_new(IMG_MT_OCI_CONFIG, &cdig, (int64_t)clen));
	json_object_set(man, "layers", st->layers);
	mbuf = img_json_dump(man, &mlen);
	if (img_blob_put(b->s, mbuf, mlen, &st->manifest) == 0) {
		st->mlen = (int64_t)mlen;
		rc = 0;
	}
	free(mbuf);
	json_decref(man);
out0:
	free(cbuf);
	return rc;
}

/* Read the image of manifest m from the store into st; 1, or 0 when a blob is missing. */
static int
state_read(struct build *b, const struct img_digest *m, struct state *st)
{
	char *buf = NULL;
	size_t len;
	struct img_doc doc;
	json_t *cfg;
	int ok = 0;

	if (img_blob_read(b->s, m, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		return 0;
	if (img_doc_parse(buf, len, NULL, &doc) < 0 || doc.kind != IMG_KIND_MANIFEST) {
		free(buf);
		return 0;
	}
	free(buf);
	buf = NULL;
	for (size_t i = 0; i < doc.n; i++)
		if (img_blob_has(b->s, &doc.items[i].digest, NULL) != 1)
			goto out;
	if (img_blob_read(b->s, &doc.config.digest, IMG_JSON_MAX_BLOB, &buf, &len) < 0)
		goto out;
	if (!(cfg = img_json_parse(buf, len, IMG_JSON_MAX_BLOB)))
		goto out;
	memset(st, 0, sizeof *st);
	st->config = cfg;
	st->layers = json_deep_copy(json_object_get(doc.root, "layers"));
	st->manifest = *m;
	ok = 1;
out:
	free(buf);
	img_doc_release(&doc);
	return ok;
}

static void
now_str(struct build *b, char *buf, size_t len)
{
	img_rfc3339(b->sde >= 0 ? b->sde : (int64_t)time(NULL), buf, len);
}

/* The step's history entry (and the layer, if any) added to cur; cur written. */
static int
commit_step(struct build *b, const char *created_by, json_t *layer,
            const struct img_digest *diff_id)
{
	json_t *c = b->cur.config, *hist, *h, *rootfs, *ids;
	char created[40];

	now_str(b, created, sizeof created);
	json_object_set_new(c, "created", json_string(created));
	hist = json_object_get(c, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(c, "history", hist);
	}
	h = json_object();
	json_object_set_new(h, "created", json_string(created));
	json_object_set_new(h, "created_by", json_string(created_by));
	json_object_set_new(h, "comment", json_string("img-build"));
	if (!layer)
		json_object_set_new(h, "empty_layer", json_true());
	json_array_append_new(hist, h);
	if (layer) {
		rootfs = json_object_get(c, "rootfs");
		if (!json_is_object(rootfs)) {
			rootfs = json_pack("{s:s}", "type", "layers");
			json_object_set_new(c, "rootfs", rootfs);
		}
		ids = json_object_get(rootfs, "diff_ids");
		if (!json_is_array(ids)) {
			ids = json_array();
			json_object_set_new(rootfs, "diff_ids", ids);
		}
		json_array_append_new(ids, json_string(diff_id->str));
		json_array_append_new(b->cur.layers, layer);
	}
	return state_write(b, &b->cur);
}

/* The cache key of the current step: the image so far, the instruction, the build
 * arguments in scope, what changes layers (compression, SOURCE_DATE_EPOCH), and the
 * content hash of what a COPY reads (extra, or NULL). */
static void
step_key(struct build *b, const struct img_df_instr *in, const struct img_digest *extra,
         struct img_digest *key)
{
	struct img_hash *h = img_hash_new(IMG_SHA256);
	char *a = img_json_dump(b->args, NULL);
	char *t = xasprintf("img-build cache 1\n%s\n%s\n%s\n%s\n%lld\n%s\n", b->cur.manifest.str,
	                    in->text, a, img_comp_name(b->o->comp), (long long)b->sde,
	                    extra ? extra->str : "-");

	img_hash_update(h, t, strlen(t));
	img_hash_final(h, key);
	img_hash_free(h);
	free(t);
	free(a);
}

/* A cache hit becomes the current state: 1; else 0. */
static int
cache_use(struct build *b, const struct img_digest *key)
{
	struct img_digest m;
	struct state st;

	if (b->o->nocache || img_store_build_cache_get(b->s, key, &m) != 1)
		return 0;
	if (!state_read(b, &m, &st))
		return 0;
	state_release(&b->cur);
	b->cur = st;
	if (!b->quiet)
		fprintf(stderr, "--> Using cache %s\n", m.str);
	return 1;
}

static int
cache_put(struct build *b, const struct img_digest *key)
{
	return img_store_build_cache_put(b->s, key, &b->cur.manifest);
}

/* ---- the image so far, unpacked (the run area's shared copy) ---- */

struct fill { struct build *b; struct state *st; };

static int
fill_state(void *arg, int rootfd)
{
	struct fill *f = arg;
	struct build *b = f->b;
	struct img_unpack *u = img_unpack_new(rootfd, IMG_UNPACK_OWNERS);
	size_t i;
	json_t *l;
	int rc = 0;

	json_array_foreach(f->st->layers, i, l) {
		struct img_digest d;
		int fd;
		if (img_digest_parse(json_string_value(json_object_get(l, "digest")), &d) < 0 ||
		    (fd = img_blob_open(b->s, &d)) < 0) {
			rc = -1;
			break;
		}
		rc = img_unpack_layer(u, fd);
		close(fd);
		if (rc < 0)
			break;
	}
	if (rc == 0)
		rc = img_unpack_finish(u);
	img_unpack_free(u);
	return rc;
}

/* The path of st unpacked (caller frees), or NULL. */
static char *
unpacked(struct build *b, struct state *st)
{
	char *root = NULL;
	struct fill f = { b, st };
	int made;

	if (img_store_run_image(b->s, &st->manifest, fill_state, &f, &made, &root) < 0)
		return NULL;
	return root;
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

/* Run the instruction in a bundle over the current state; the layer of what it changed.
 * 0, 1 (the command failed: *status), or -1 (img_errmsg). */
static int
run_step(struct build *b, const struct img_df_instr *in, int *status, json_t **layer,
         struct img_digest *diff_id)
{
	json_t *cfg = cfg_obj(&b->cur), *argv = NULL, *desc = NULL, *bdoc = NULL, *v;
	struct img_bundle_opts bo;
	struct img_config ic;
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
		if (!kv_get(json_object_get(cfg, "Env"), k))
			env[n++] = (char *)kv;
		free(k);
	}
	if (!(lower = unpacked(b, &b->cur)))
		goto out;
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
		img_seterr_errno("getrandom");
		goto out;
	}
	snprintf(name, sizeof name, "img-build-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
	         r[4], r[5]);
	desc = img_desc_new(IMG_MT_OCI_MANIFEST, &b->cur.manifest, b->cur.mlen);
	if (img_store_run_container_new(b->s, name, desc, &dir, &lockfd) < 0)
		goto out;
	created = 1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    mkdirat(dfd, "rootfs", 0755) < 0 || mkdirat(dfd, "upper", 0755) < 0 ||
	    mkdirat(dfd, "work", 0700) < 0) {
		img_seterr_errno("%s", dir);
		goto out;
	}
	if (img_run_overlay(lower, dir) < 0) {
		img_seterr_errno("cannot mount an overlay on '%s/rootfs'", dir);
		goto out;
	}
	mounted = 1;
	root = xasprintf("%s/rootfs", dir);
	upper = xasprintf("%s/upper", dir);
	if ((rootfd = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		img_seterr_errno("%s", root);
		goto out;
	}
	{
		char *cb = img_json_dump(b->cur.config, NULL);
		int pr = img_config_parse(cb, strlen(cb), &ic);
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
	if (umount2(root, 0) < 0 && umount2(root, MNT_DETACH) < 0) {
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
		if (!l || img_mklayer_dir(l, upper, &m) < 0 ||
		    img_mklayer_finish(l, &blob, &bsize, diff_id) < 0) {
			img_mklayer_free(l);
			goto out;
		}
		img_mklayer_free(l);
		*layer = img_desc_new(img_comp_media_type(b->o->comp), &blob, bsize);
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
		if (img_store_run_container_remove(b->s, name) < 0 && rc >= 0)
			rc = -1;
		if (keep) {
			img_seterr("%s", keep);
			free(keep);
		}
	}
	if (lockfd >= 0)
		close(lockfd);
	if (have_ic)
		img_config_release(&ic);
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

struct src { char *path; char *rel; int archive; };

struct plan {
	struct src *v;
	size_t n, cap;
	char *dest;                 /* relative to /, cleaned; "" for / */
	int destdir;                /* sources go into dest */
	int64_t uid, gid;
	int mode;
	int from_ctx;               /* .dockerignore applies */
	char *root;                 /* the directory sources are found in */
};

static void
plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].rel);
	}
	free(p->v);
	free(p->dest);
	free(p->root);
}

/* Clean a path lexically below / ("/a/../b/" -> "b"; ".." stays at the top). */
static char *
clean_below(const char *p)
{
	char *out = xcalloc(1, strlen(p) + 1);
	size_t n = 0;

	while (*p) {
		const char *e;
		while (*p == '/')
			p++;
		e = p + strcspn(p, "/");
		if ((e - p == 1 && p[0] == '.') || e == p) {
			/* skip */
		} else if (e - p == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, (size_t)(e - p));
			n += (size_t)(e - p);
		}
		out[n] = '\0';
		p = e;
	}
	return out;
}

struct hashw { struct build *b; const char *base; struct img_hash *h; char *buf; };

static int
hash_one(const struct img_dirwalk_entry *e, void *arg)
{
	struct hashw *w = arg;
	char *line;

	if (w->b->ig.n) {
		char *rel = *w->base ? xasprintf("%s/%s", w->base, e->rel) : xstrdup(e->rel);
		int ign = img_ignore_match(&w->b->ig, rel);
		free(rel);
		if (ign)
			return e->type == IMG_ENT_DIR ? 1 : 0;
	}
	line = xasprintf("%s\n%d %o %lld %s\n", e->rel, (int)e->type, (unsigned)e->st.st_mode,
	                 (long long)e->st.st_size, e->link ? e->link : "");
	img_hash_update(w->h, line, strlen(line) + 1);
	free(line);
	if (e->type == IMG_ENT_FILE) {
		ssize_t n;
		while ((n = read(e->fd, w->buf, 1 << 16)) > 0)
			img_hash_update(w->h, w->buf, (size_t)n);
		if (n < 0) {
			img_seterr_errno("cannot read '%s'", img_shown(e->full));
			return -1;
		}
	}
	return 0;
}

/* The content hash of the sources (names, types, modes, bytes). */
static int
plan_hash(struct build *b, const struct plan *p, struct img_digest *out)
{
	struct hashw w = { .b = b, .h = img_hash_new(IMG_SHA256), .buf = xmalloc(1 << 16) };
	int rc = 0;

	for (size_t i = 0; i < p->n && rc == 0; i++) {
		struct stat st;
		char *line;
		if (lstat(p->v[i].path, &st) < 0) {
			rc = -1;
			img_seterr_errno("'%s'", p->v[i].rel);
			break;
		}
		line = xasprintf("src %s %o %lld\n", p->v[i].rel, (unsigned)st.st_mode,
		                 (long long)st.st_size);
		img_hash_update(w.h, line, strlen(line) + 1);
		free(line);
		if (S_ISDIR(st.st_mode)) {
			w.base = p->v[i].rel;
			rc = img_dirwalk(p->v[i].path, hash_one, &w);
		} else if (S_ISREG(st.st_mode)) {
			int fd = open(p->v[i].path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			ssize_t n;
			if (fd < 0) {
				img_seterr_errno("cannot open '%s'", p->v[i].rel);
				rc = -1;
				break;
			}
			while ((n = read(fd, w.buf, 1 << 16)) > 0)
				img_hash_update(w.h, w.buf, (size_t)n);
			close(fd);
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t n = readlink(p->v[i].path, t, sizeof t);
			if (n > 0)
				img_hash_update(w.h, t, (size_t)n);
		}
	}
	img_hash_final(w.h, out);
	img_hash_free(w.h);
	free(w.buf);
	return rc;
}

/* An archive ADD extracts: compressed data, or a tar header. */
static int
is_archive(const char *path)
{
	unsigned char buf[512];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0)
		return 0;
	if (img_comp_sniff(buf, (size_t)n) != IMG_COMP_NONE)
		return 1;
	return n == 512 && !memcmp(buf + 257, "ustar", 5);
}

/* Owner of --chown=USER[:GROUP] (numbers, or names through the image's /etc). */
static int
chown_of(struct build *b, const char *spec, int64_t *uid, int64_t *gid)
{
	char *root;
	int fd, rc;
	unsigned u, g, *gids = NULL;
	size_t ng;
	char *home = NULL;

	if (!(root = unpacked(b, &b->cur)))
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
plan_make(struct build *b, const struct img_df_instr *in, int is_add, struct plan *p)
{
	json_t *cfg = cfg_obj(&b->cur), *env = json_object_get(cfg, "Env");
	const char *from = img_df_flag(in, "from"), *chown = img_df_flag(in, "chown");
	const char *chmod = img_df_flag(in, "chmod");
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
		if (!(p->root = unpacked(b, &b->stages[k].st)))
			goto out;
		p->uid = p->gid = -1;    /* owners as in the stage */
	} else {
		p->root = xstrdup(b->o->context);
		p->from_ctx = 1;
	}
	if (chown && chown_of(b, chown, &p->uid, &p->gid) < 0)
		goto out;
	/* the destination, relative to WorkingDir */
	{
		const char *dst = w[nw - 1], *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
		size_t dl = strlen(dst);
		char *joined = dst[0] == '/' ? xstrdup(dst) : xasprintf("%s/%s", wd ? wd : "/", dst);
		p->dest = clean_below(joined);
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
		rel = clean_below(src);
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
			char *r = clean_below(gp);
			if (p->from_ctx && b->ig.n && *r && img_ignore_match(&b->ig, r)) {
				free(r);
				continue;
			}
			IMG_GROW(p->v, p->n + 1, p->cap);
			p->v[p->n].path = xstrdup(g.gl_pathv[k]);
			p->v[p->n].rel = r;
			p->v[p->n].archive = is_add && p->from_ctx && is_archive(g.gl_pathv[k]);
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

struct ctxskip { struct build *b; const char *base; };

static int
skip_ignored(void *arg, const char *rel, int is_dir)
{
	struct ctxskip *cs = arg;
	char *p = *cs->base ? xasprintf("%s/%s", cs->base, rel) : xstrdup(rel);
	int ign = img_ignore_match(&cs->b->ig, p);

	if (ign && is_dir && img_ignore_may_reinclude(&cs->b->ig, p))
		ign = 0;
	free(p);
	return ign;
}

/* The directories above path (not path), as the image so far has them, else root's 0755. */
static int
put_parents(struct img_mklayer *l, const char *lower, const char *path, int64_t now)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	if (!*p) {
		free(p);
		return 0;
	}
	{
		/* path itself is written by the caller: only what is above it here */
		size_t n = strlen(p);
		p = xrealloc(p, n + 2);
		p[n] = '/';
		p[n + 1] = '\0';
	}
	for (s = strchr(p, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
		struct stat st;
		char *full;
		*s = '\0';
		if (!img_mklayer_has(l, p)) {
			full = xasprintf("%s/%s", lower, p);
			if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
				rc = img_mklayer_entry(l, p, IMG_ENT_DIR, st.st_mode, st.st_uid, st.st_gid,
				                       st.st_mtime, 0, NULL, NULL);
			else
				rc = img_mklayer_entry(l, p, IMG_ENT_DIR, 0755, 0, 0, now, 0, NULL, NULL);
			free(full);
		}
		*s = '/';
	}
	free(p);
	return rc;
}

/* Write the layer of a planned COPY or ADD. 0 or -1. */
static int
plan_write(struct build *b, const struct plan *p, json_t **layer, struct img_digest *diff_id)
{
	struct img_mklayer_opts lo = { .comp = b->o->comp, .level = -1, .clamp = b->sde,
	                               .progress = IMG_PROGRESS_NONE };
	struct img_mklayer *l;
	struct img_digest blob;
	int64_t bsize;
	char *lower;
	int rc = -1;
	int64_t now = b->sde >= 0 ? b->sde : (int64_t)time(NULL);

	if (!(lower = unpacked(b, &b->cur)))
		return -1;
	if (!(l = img_mklayer_begin(b->s, &lo))) {
		free(lower);
		return -1;
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct src *sv = &p->v[i];
		struct ctxskip cs = { b, sv->rel };
		struct img_mklayer_map m = { .uid = p->uid, .gid = p->gid, .mode = p->mode,
		                             .skip = p->from_ctx && b->ig.n ? skip_ignored : NULL,
		                             .skip_arg = &cs };
		struct stat st;
		char *target;
		const char *base = strrchr(sv->rel, '/');

		base = base ? base + 1 : sv->rel;
		if (lstat(sv->path, &st) < 0) {
			img_seterr_errno("'%s'", sv->rel);
			goto out;
		}
		if (sv->archive || S_ISDIR(st.st_mode)) {
			/* what it holds goes into dest */
			target = xstrdup(p->dest);
			if (*target && put_parents(l, lower, target, now) < 0) {
				free(target);
				goto out;
			}
			if (*target && !img_mklayer_has(l, target)) {
				if (S_ISDIR(st.st_mode) ? img_mklayer_entry(l, target, IMG_ENT_DIR,
				        p->mode >= 0 ? (mode_t)p->mode : st.st_mode,
				        p->uid >= 0 ? p->uid : st.st_uid, p->gid >= 0 ? p->gid : st.st_gid,
				        st.st_mtime, 0, NULL, NULL) < 0
				    : img_mklayer_entry(l, target, IMG_ENT_DIR, 0755, 0, 0, now, 0,
				                        NULL, NULL) < 0) {
					free(target);
					goto out;
				}
			}
			m.prefix = target;
			if (sv->archive) {
				int fd = open(sv->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
				struct img_mklayer_map ma = { .prefix = target, .uid = -1, .gid = -1,
				                              .mode = -1 };
				int r = fd < 0 ? -1 : img_mklayer_archive(l, fd, &ma);
				if (fd < 0)
					img_seterr_errno("cannot open '%s'", sv->rel);
				else
					close(fd);
				if (r < 0) {
					free(target);
					goto out;
				}
			} else if (img_mklayer_dir(l, sv->path, &m) < 0) {
				free(target);
				goto out;
			}
			free(target);
			continue;
		}
		target = p->destdir ? (*p->dest ? xasprintf("%s/%s", p->dest, base) : xstrdup(base))
		                    : xstrdup(p->dest);
		if (put_parents(l, lower, target, now) < 0 ||
		    img_mklayer_path(l, sv->path, target, &m) < 0) {
			free(target);
			goto out;
		}
		free(target);
	}
	if (img_mklayer_finish(l, &blob, &bsize, diff_id) < 0)
		goto out;
	*layer = img_desc_new(img_comp_media_type(b->o->comp), &blob, bsize);
	rc = 0;
out:
	img_mklayer_free(l);
	free(lower);
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
	state_release(&b->cur);
	json_decref(b->args);
	b->args = json_array();
	b->cmd_set = 0;
	for (k = 0; k < b->nstages; k++)
		if (b->stages[k].name && !strcasecmp(b->stages[k].name, w[0]))
			break;
	if (k < b->nstages) {
		state_copy(&b->cur, &b->stages[k].st);
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
		if (state_write(b, &b->cur) < 0)
			goto out;
	} else {
		json_t *index = img_store_index(b->s);
		size_t *m = NULL, nm = 0;
		struct img_desc top, mdesc;
		struct img_doc man;
		struct img_config cfg;
		int r = -1;
		if (index && img_store_resolve(b->s, index, w[0], &m, &nm) == 0 &&
		    img_desc_parse(json_array_get(json_object_get(index, "manifests"), m[0]), &top) == 0 &&
		    img_store_image(b->s, &top, b->o->pstr ? &b->o->plat : NULL, &man, &mdesc, &cfg) == 0) {
			b->cur.config = json_deep_copy(cfg.root);
			b->cur.layers = json_deep_copy(json_object_get(man.root, "layers"));
			b->cur.manifest = mdesc.digest;
			b->cur.mlen = mdesc.size;
			img_doc_release(&man);
			img_config_release(&cfg);
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
		if ((v = kv_get(b->o->bargs, w[i])))
			kv_set(into, w[i], v);
		else if (eq)
			kv_set(into, w[i], eq + 1);
		else if (into != b->meta && (v = kv_get(b->meta, w[i])))
			kv_set(into, w[i], v);
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
	struct plan p;
	int r;

	if (!strcmp(kw, "FROM"))
		return from_step(b, in);
	if (!strcmp(kw, "ARG"))
		return arg_step(b, in, b->args, json_object_get(cfg_obj(&b->cur), "Env"));
	memset(&p, 0, sizeof p);
	if (is_copy || is_add) {
		if (plan_make(b, in, is_add, &p) < 0 || plan_hash(b, &p, &chash) < 0) {
			plan_release(&p);
			return -1;
		}
	}
	step_key(b, in, is_copy || is_add ? &chash : NULL, &key);
	if (cache_use(b, &key)) {
		plan_release(&p);
		return 0;
	}
	if (is_run) {
		r = run_step(b, in, status, &layer, &diff_id);
		if (r != 0)
			return r;
	} else if (is_copy || is_add) {
		r = plan_write(b, &p, &layer, &diff_id);
		plan_release(&p);
		if (r < 0)
			return -1;
	} else if (!strcmp(kw, "SHELL")) {
		json_object_set(cfg_obj(&b->cur), "Shell", in->exec);
	} else if (!strcmp(kw, "MAINTAINER")) {
		json_object_set_new(b->cur.config, "author", json_string(in->args));
	} else if (img_config_change_vars(cfg_obj(&b->cur), in->text, &b->cmd_set, b->args) < 0) {
		return -1;
	}
	if (commit_step(b, in->text, layer, &diff_id) < 0 || cache_put(b, &key) < 0)
		return -1;
	return 0;
}

struct name_arg { const char *const *names; size_t n; json_t *desc; };

static int
set_names(json_t *index, void *arg)
{
	struct name_arg *na = arg;

	return img_index_put(index, na->desc, na->names, na->n) < 0 ? -1 : 0;
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
	b.sde = img_source_date_epoch();
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
			img_ignore_parse(text, len, &b.ig);
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
	desc = img_desc_new(IMG_MT_OCI_MANIFEST, &b.cur.manifest, b.cur.mlen);
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
		state_release(&b.stages[i].st);
	}
	free(b.stages);
	state_release(&b.cur);
	json_decref(b.meta);
	json_decref(b.args);
	img_ignore_release(&b.ig);
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

	img_setprogname(argv[0]);
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
				kv_set(o.bargs, k, eq + 1);
				free(k);
			} else if (getenv(optarg)) {
				kv_set(o.bargs, optarg, getenv(optarg));
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
		case 'h':
			return img_cli_help(synopsis, help_text);
		case OPT_LIST_OPTIONS:
			return img_cli_list_options(longopts);
		case OPT_NO_CACHE:
			o.nocache = 1;
			break;
		case OPT_PLATFORM:
			o.pstr = optarg;
			break;
		case OPT_PROGRESS:
			if (img_progress_parse(optarg, &o.progress) < 0) {
				warnx("invalid progress mode '%s'", optarg);
				img_cli_usage(synopsis);
			}
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
		case OPT_VERSION:
			return img_cli_version();
		default:
			img_cli_usage(synopsis);
		}
	}
	if (argc - optind != 1)
		img_cli_usage(synopsis);
	o.context = argv[optind];
	if (o.pstr) {
		if (img_platform_parse(o.pstr, &o.plat) < 0)
			errx(2, "invalid platform '%s': %s", o.pstr, img_errmsg());
	} else {
		img_platform_host(&o.plat);
	}
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
