#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include "test.h"
#include "util.h"
#include "digest.h"
#include "json.h"
#include "image.h"
#include "store.h"

/* Entries in a directory, "." and ".." excluded; -1 when it cannot be read. */
static int count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int count_in(struct img_store *s, const char *rel)
{
	char *p = xasprintf("%s/%s", img_store_path(s), rel);
	int n = count_dir(p);
	free(p);
	return n;
}

static char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	char *buf = NULL;
	size_t n = 0;

	if (fd < 0)
		return NULL;
	if (img_json_read_capped(fd, 1 << 24, &buf, &n) < 0)
		buf = NULL;
	close(fd);
	if (buf) {
		buf = xrealloc(buf, n + 1);
		buf[n] = '\0';
	}
	if (len)
		*len = n;
	return buf;
}

static struct img_store *mkstore(void)
{
	struct img_store *s = NULL;
	char *dir = xasprintf("%s/store", img_test_tmpdir);
	if (img_store_open(dir, IMG_STORE_CREATE, &s) < 0)
		printf("# open: %s\n", img_errmsg());
	free(dir);
	return s;
}

TEST(store_default_path)
{
	char *p;
	const char *home = getenv("HOME");
	char *save_home = home ? xstrdup(home) : NULL;

	p = img_store_default_path("/x/y");
	IMG_ASSERT_EQ_STR(p, "/x/y");
	free(p);
	setenv("IMG_STORE", "/from/env", 1);
	p = img_store_default_path(NULL);
	IMG_ASSERT_EQ_STR(p, "/from/env");
	free(p);
	unsetenv("IMG_STORE");
	setenv("XDG_DATA_HOME", "/xdg", 1);
	p = img_store_default_path(NULL);
	IMG_ASSERT_EQ_STR(p, "/xdg/img");
	free(p);
	unsetenv("XDG_DATA_HOME");
	setenv("HOME", "/home/u", 1);
	p = img_store_default_path(NULL);
	IMG_ASSERT_EQ_STR(p, "/home/u/.local/share/img");
	free(p);
	if (save_home) {
		setenv("HOME", save_home, 1);
		free(save_home);
	}
}

TEST(store_create_layout)
{
	struct img_store *s = NULL;
	char *dir = xasprintf("%s/a/b/store", img_test_tmpdir), *p, *c;
	struct stat st;
	json_t *ix;

	IMG_ASSERT_EQ_INT(img_store_open(dir, 0, &s), -1);
	IMG_ASSERT_EQ_INT(errno, ENOENT);
	IMG_ASSERT(strstr(img_errmsg(), "no image store") != NULL);
	IMG_ASSERT_EQ_INT(img_store_open(dir, IMG_STORE_CREATE, &s), 0);
	IMG_ASSERT_EQ_STR(img_store_path(s), dir);
	p = xasprintf("%s/oci-layout", dir);
	c = slurp(p, NULL);
	free(p);
	IMG_ASSERT_EQ_STR(c, "{\"imageLayoutVersion\":\"1.0.0\"}");
	free(c);
	p = xasprintf("%s/index.json", dir);
	c = slurp(p, NULL);
	free(p);
	IMG_ASSERT_EQ_STR(c, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}");
	free(c);
	IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 0);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 0);
	p = xasprintf("%s/.img/lock", dir);
	IMG_ASSERT_EQ_INT(stat(p, &st), 0);
	free(p);
	ix = img_store_index(s);
	IMG_ASSERT(ix != NULL);
	IMG_ASSERT_EQ_INT(json_array_size(json_object_get(ix, "manifests")), 0);
	json_decref(ix);
	img_store_close(s);
	/* reopen without CREATE */
	IMG_ASSERT_EQ_INT(img_store_open(dir, 0, &s), 0);
	img_store_close(s);
	/* a foreign layout version is refused */
	p = xasprintf("%s/oci-layout", dir);
	FILE *f = fopen(p, "w");
	fputs("{\"imageLayoutVersion\":\"2.0.0\"}", f);
	fclose(f);
	free(p);
	IMG_ASSERT_EQ_INT(img_store_open(dir, 0, &s), -1);
	IMG_ASSERT(strstr(img_errmsg(), "version") != NULL);
	free(dir);
}

TEST(store_create_race)
{
	char *dir = xasprintf("%s/racy", img_test_tmpdir), *p, *c;
	pid_t pids[8];
	int i, status, ok = 1;

	for (i = 0; i < 8; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct img_store *s;
			struct img_digest d;
			if (img_store_open(dir, IMG_STORE_CREATE, &s) < 0)
				_exit(1);
			if (img_blob_put(s, "x", 1, &d) < 0)
				_exit(2);
			img_store_close(s);
			_exit(0);
		}
	}
	for (i = 0; i < 8; i++) {
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
	}
	IMG_ASSERT(ok);
	p = xasprintf("%s/index.json", dir);
	c = slurp(p, NULL);
	free(p);
	IMG_ASSERT(c && strstr(c, "\"manifests\":[]"));
	free(c);
	p = xasprintf("%s/.img/tmp", dir);
	IMG_ASSERT_EQ_INT(count_dir(p), 0);
	free(p);
	p = xasprintf("%s/blobs/sha256", dir);
	IMG_ASSERT_EQ_INT(count_dir(p), 1);
	free(p);
	free(dir);
}

TEST(store_blob_visible_only_after_hash)
{
	struct img_store *s = mkstore();
	struct img_blob_writer *w;
	struct img_digest d, want, bad;
	char chunk[1000], *p, *c;
	size_t len;
	struct stat st;
	struct img_hash *h = img_digest_hash_new(IMG_SHA256);
	int i;

	IMG_ASSERT(s != NULL);
	for (i = 0; i < (int)sizeof chunk; i++)
		chunk[i] = (char)(i * 7);
	/* many small writes, across the write buffer */
	IMG_ASSERT_EQ_INT(img_blob_begin(s, &w), 0);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 1);
	for (i = 0; i < 3000; i++) {
		IMG_ASSERT_EQ_INT(img_blob_write(w, chunk, sizeof chunk), 0);
		img_digest_hash_update(h, chunk, sizeof chunk);
		if (i == 1500)
			IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 0);
	}
	img_digest_hash_final(h, &want);
	img_digest_hash_free(h);
	IMG_ASSERT_EQ_INT(img_blob_written(w), 3000 * sizeof chunk);
	IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 0);
	IMG_ASSERT_EQ_INT(img_blob_commit(w, &want, 3000 * sizeof chunk, &d), 0);
	IMG_ASSERT_EQ_STR(d.str, want.str);
	IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 1);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 0);
	p = xasprintf("%s/blobs/sha256/%s", img_store_path(s), img_digest_hex(&d));
	IMG_ASSERT_EQ_INT(stat(p, &st), 0);
	IMG_ASSERT_EQ_INT(st.st_size, 3000 * sizeof chunk);
	IMG_ASSERT((st.st_mode & 0444) == 0444);
	c = slurp(p, &len);
	IMG_ASSERT(c && len == 3000 * sizeof chunk && memcmp(c + 1000, chunk, sizeof chunk) == 0);
	free(c);
	free(p);
	IMG_ASSERT_EQ_INT(img_blob_verify(s, &d, 3000 * sizeof chunk), 0);

	/* wrong expected digest: nothing in blobs/, nothing in tmp */
	bad = want;
	bad.str[7] = bad.str[7] == '0' ? '1' : '0';
	IMG_ASSERT_EQ_INT(img_blob_begin(s, &w), 0);
	IMG_ASSERT_EQ_INT(img_blob_write(w, "hello", 5), 0);
	IMG_ASSERT_EQ_INT(img_blob_commit(w, &bad, -1, NULL), -1);
	IMG_ASSERT(strstr(img_errmsg(), "digest mismatch") != NULL);
	IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 1);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 0);
	/* wrong size */
	img_digest_buf("hello", 5, &want);
	IMG_ASSERT_EQ_INT(img_blob_begin(s, &w), 0);
	IMG_ASSERT_EQ_INT(img_blob_write(w, "hello", 5), 0);
	IMG_ASSERT_EQ_INT(img_blob_commit(w, &want, 6, NULL), -1);
	IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 1);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 0);
	IMG_ASSERT_EQ_INT(img_blob_has(s, &want, NULL), 0);
	/* right: visible, and committing it again keeps one copy */
	IMG_ASSERT_EQ_INT(img_blob_put(s, "hello", 5, &d), 0);
	IMG_ASSERT_EQ_STR(d.str, want.str);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "hello", 5, &d), 0);
	IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 2);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 0);
	int64_t size = 0;
	IMG_ASSERT_EQ_INT(img_blob_has(s, &want, &size), 1);
	IMG_ASSERT_EQ_INT(size, 5);
	img_store_close(s);
}

TEST(store_blob_abort)
{
	struct img_store *s = mkstore();
	struct img_blob_writer *w;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(img_blob_begin(s, &w), 0);
	IMG_ASSERT_EQ_INT(img_blob_write(w, "partial", 7), 0);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 1);
	img_blob_abort(w);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 0);
	IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 0);
	img_store_close(s);
}

TEST(store_blob_read_verify)
{
	struct img_store *s = mkstore();
	struct img_digest d, missing;
	char *buf, *p;
	size_t len;
	int fd;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "0123456789", 10, &d), 0);
	IMG_ASSERT_EQ_INT(img_blob_read(s, &d, 100, &buf, &len), 0);
	IMG_ASSERT(len == 10 && memcmp(buf, "0123456789", 10) == 0);
	free(buf);
	IMG_ASSERT_EQ_INT(img_blob_read(s, &d, 5, &buf, &len), -1);      /* over the cap */
	IMG_ASSERT_EQ_INT(img_blob_verify(s, &d, 11), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "size 10, expected 11");
	img_digest_buf("nothing", 7, &missing);
	IMG_ASSERT_EQ_INT(img_blob_verify(s, &missing, -1), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "missing");
	IMG_ASSERT_EQ_INT(img_blob_open(s, &missing), -1);
	IMG_ASSERT_EQ_INT(errno, ENOENT);
	/* flip a byte */
	p = xasprintf("%s/blobs/sha256/%s", img_store_path(s), img_digest_hex(&d));
	chmod(p, 0644);
	fd = open(p, O_WRONLY);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(pwrite(fd, "X", 1, 3), 1);
	close(fd);
	IMG_ASSERT_EQ_INT(img_blob_verify(s, &d, 10), -1);
	IMG_ASSERT(strncmp(img_errmsg(), "digest mismatch (got sha256:", 28) == 0);
	IMG_ASSERT_EQ_INT(img_blob_read(s, &d, 100, &buf, &len), -1);
	IMG_ASSERT(strstr(img_errmsg(), "digest mismatch") != NULL);
	/* a symlink in blobs/ is not followed */
	unlink(p);
	IMG_ASSERT_EQ_INT(symlink("/etc/passwd", p), 0);
	IMG_ASSERT_EQ_INT(img_blob_open(s, &d), -1);
	IMG_ASSERT_EQ_INT(img_blob_verify(s, &d, -1), -1);
	free(p);
	img_store_close(s);
}

static int add_entry(json_t *index, void *arg)
{
	json_array_append_new(json_object_get(index, "manifests"), json_deep_copy(arg));
	return 0;
}
static int no_change(json_t *index, void *arg)
{
	(void)arg;
	json_array_clear(json_object_get(index, "manifests"));
	return 1;
}
static int fail_fn(json_t *index, void *arg)
{
	(void)index; (void)arg;
	img_seterr("refused");
	return -1;
}

static ino_t inode_of(struct img_store *s, const char *rel)
{
	struct stat st;
	char *p = xasprintf("%s/%s", img_store_path(s), rel);
	int r = stat(p, &st);
	free(p);
	return r == 0 ? st.st_ino : 0;
}

TEST(store_index_update_atomic)
{
	struct img_store *s = mkstore();
	struct img_digest d;
	json_t *desc, *ix;
	ino_t before, after;
	char *p, *c;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "{}", 2, &d), 0);
	desc = img_image_desc_new(IMG_MT_OCI_MANIFEST, &d, 2);
	before = inode_of(s, "index.json");
	IMG_ASSERT_EQ_INT(img_store_index_update(s, add_entry, desc), 0);
	after = inode_of(s, "index.json");
	IMG_ASSERT(before != 0 && after != 0 && before != after);   /* replaced, not rewritten */
	p = xasprintf("%s/index.json", img_store_path(s));
	c = slurp(p, NULL);
	IMG_ASSERT(c != NULL);
	ix = img_json_parse(c, strlen(c), IMG_JSON_MAX_ARCHIVE);
	free(c);
	IMG_ASSERT(ix != NULL);
	IMG_ASSERT_EQ_INT(json_array_size(json_object_get(ix, "manifests")), 1);
	IMG_ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(ix, "manifests"), 0), "digest")), d.str);
	json_decref(ix);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 0);

	/* fn > 0: nothing written */
	before = after;
	IMG_ASSERT_EQ_INT(img_store_index_update(s, no_change, NULL), 0);
	IMG_ASSERT_EQ_INT(inode_of(s, "index.json"), before);
	ix = img_store_index(s);
	IMG_ASSERT_EQ_INT(json_array_size(json_object_get(ix, "manifests")), 1);
	json_decref(ix);
	/* fn < 0: -1, nothing written */
	IMG_ASSERT_EQ_INT(img_store_index_update(s, fail_fn, NULL), -1);
	IMG_ASSERT_EQ_STR(img_errmsg(), "refused");
	IMG_ASSERT_EQ_INT(inode_of(s, "index.json"), before);
	IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), 0);
	json_decref(desc);
	free(p);
	img_store_close(s);
}

static int waited;
static void on_wait(void *arg)
{
	(void)arg;
	waited++;
}

TEST(store_lock_wait)
{
	struct img_store *s = mkstore();
	int go[2], done[2];
	pid_t pid;
	char ch;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(pipe(go), 0);
	IMG_ASSERT_EQ_INT(pipe(done), 0);
	pid = fork();
	if (pid == 0) {
		struct img_store *c;
		close(go[0]);
		close(done[1]);
		if (img_store_open(img_store_path(s), 0, &c) < 0 ||
		    img_store_lock(c, IMG_LOCK_EXCLUSIVE, NULL, NULL) < 0)
			_exit(1);
		if (write(go[1], "x", 1) != 1)
			_exit(1);
		/* hold it until the parent says it started waiting (or 2 s) */
		usleep(300000);
		img_store_close(c);
		_exit(0);
	}
	close(go[1]);
	close(done[0]);
	IMG_ASSERT_EQ_INT(read(go[0], &ch, 1), 1);
	waited = 0;
	/* a writer: blob_begin takes the shared lock, waiting for the exclusive holder */
	img_store_set_waiting(s, on_wait, NULL);
	struct img_blob_writer *w;
	IMG_ASSERT_EQ_INT(img_blob_begin(s, &w), 0);
	IMG_ASSERT_EQ_INT(waited, 1);
	img_blob_abort(w);
	int status;
	waitpid(pid, &status, 0);
	IMG_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* the shared lock is kept after the writer: an exclusive flock elsewhere fails,
	 * a shared one succeeds; after unlock the exclusive one succeeds */
	char *lp = xasprintf("%s/.img/lock", img_store_path(s));
	int fd = open(lp, O_RDWR);
	free(lp);
	IMG_ASSERT(fd >= 0);
	IMG_ASSERT_EQ_INT(flock(fd, LOCK_EX | LOCK_NB), -1);
	IMG_ASSERT_EQ_INT(flock(fd, LOCK_SH | LOCK_NB), 0);
	flock(fd, LOCK_UN);
	img_store_unlock(s);
	IMG_ASSERT_EQ_INT(flock(fd, LOCK_EX | LOCK_NB), 0);
	waited = 0;
	close(fd);
	IMG_ASSERT_EQ_INT(img_store_lock(s, IMG_LOCK_EXCLUSIVE, on_wait, NULL), 0);
	IMG_ASSERT_EQ_INT(waited, 0);
	img_store_unlock(s);
	close(go[0]);
	close(done[1]);
	img_store_close(s);
}

/* ---- images for the name, resolve and walk tests ---- */

struct img {
	struct img_digest layer, config, manifest;
	json_t *desc;          /* manifest descriptor */
};

/* An image with one layer of `content`; its config differs by `tag`. */
static int mkimage(struct img_store *s, const char *content, const char *tag, struct img *im)
{
	char *cfg, *man;
	struct img_digest diff;
	int r;

	memset(im, 0, sizeof(*im));
	if (img_blob_put(s, content, strlen(content), &im->layer) < 0)
		return -1;
	img_digest_buf(content, strlen(content), &diff);
	cfg = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"t\":\"%s\"}},"
	                "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", tag, diff.str);
	r = img_blob_put(s, cfg, strlen(cfg), &im->config);
	man = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
	                "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
	                "\"size\":%zu}]}", IMG_MT_OCI_MANIFEST, IMG_MT_OCI_CONFIG, im->config.str,
	                strlen(cfg), IMG_MT_OCI_LAYER, im->layer.str, strlen(content));
	if (r == 0)
		r = img_blob_put(s, man, strlen(man), &im->manifest);
	if (r == 0)
		im->desc = img_image_desc_new(IMG_MT_OCI_MANIFEST, &im->manifest, (int64_t)strlen(man));
	free(cfg);
	free(man);
	return r;
}

static json_t *empty_index(void)
{
	return json_loads("{\"schemaVersion\":2,\"manifests\":[]}", 0, NULL);
}

static const char *name_at(json_t *ix, size_t i, char *buf)
{
	return img_index_entry_name(json_array_get(json_object_get(ix, "manifests"), i), buf, 512);
}

static const char *digest_at(json_t *ix, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(ix, "manifests"), i), "digest"));
}

static size_t nentries(json_t *ix)
{
	return json_array_size(json_object_get(ix, "manifests"));
}

TEST(store_entry_name)
{
	char buf[512];
	static const struct { const char *json, *name; } t[] = {
		{ "{\"annotations\":{\"org.opencontainers.image.ref.name\":\"docker.io/library/nginx:v3\","
		  "\"io.containerd.image.name\":\"docker.io/library/nginx:v3\"}}", "docker.io/library/nginx:v3" },
		/* skopeo: REF as typed */
		{ "{\"annotations\":{\"org.opencontainers.image.ref.name\":\"tiny:1\"}}", "docker.io/library/tiny:1" },
		/* docker save: tag-only ref.name, the containerd name wins */
		{ "{\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\","
		  "\"io.containerd.image.name\":\"docker.io/library/alpine:latest\"}}", "docker.io/library/alpine:latest" },
		{ "{\"annotations\":{\"io.containerd.image.name\":\"quay.io/a/b:1\"}}", "quay.io/a/b:1" },
		{ "{\"annotations\":{\"org.opencontainers.image.ref.name\":\"localhost/foo\"}}", "localhost/foo:latest" },
		/* a bare tag names no repository */
		{ "{\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}", NULL },
		{ "{\"annotations\":{\"org.opencontainers.image.ref.name\":\"v3\"}}", NULL },
		{ "{\"annotations\":{\"org.opencontainers.image.ref.name\":\"Bad:Name\"}}", NULL },
		{ "{\"annotations\":{\"a\":\"b\"}}", NULL },
		{ "{}", NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		json_t *e = json_loads(t[i].json, 0, NULL);
		const char *n = img_index_entry_name(e, buf, sizeof buf);
		if (t[i].name)
			IMG_ASSERT_EQ_STR(n, t[i].name);
		else
			IMG_ASSERT(n == NULL);
		json_decref(e);
	}
}

TEST(store_set_name_moves)
{
	struct img_store *s = mkstore();
	struct img a, b;
	json_t *ix = empty_index();
	char buf[512];

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(mkimage(s, "layer-a", "a", &a), 0);
	IMG_ASSERT_EQ_INT(mkimage(s, "layer-b", "b", &b), 0);
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "nginx:v3", a.desc), 0);
	IMG_ASSERT_EQ_INT(nentries(ix), 1);
	IMG_ASSERT_EQ_STR(name_at(ix, 0, buf), "docker.io/library/nginx:v3");
	json_t *ann = json_object_get(json_array_get(json_object_get(ix, "manifests"), 0), "annotations");
	IMG_ASSERT_EQ_STR(json_string_value(json_object_get(ann, IMG_ANN_REF_NAME)), "docker.io/library/nginx:v3");
	IMG_ASSERT_EQ_STR(json_string_value(json_object_get(ann, IMG_ANN_CTR_NAME)), "docker.io/library/nginx:v3");
	/* a second name for the same image: a second entry */
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "docker.io/library/nginx:latest", a.desc), 0);
	IMG_ASSERT_EQ_INT(nentries(ix), 2);
	/* move nginx:v3 to b: a keeps its other name, nothing unnamed is left over */
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "nginx:v3", b.desc), 0);
	IMG_ASSERT_EQ_INT(nentries(ix), 2);
	for (size_t i = 0; i < nentries(ix); i++) {
		if (strcmp(digest_at(ix, i), b.manifest.str) == 0)
			IMG_ASSERT_EQ_STR(name_at(ix, i, buf), "docker.io/library/nginx:v3");
		else
			IMG_ASSERT_EQ_STR(name_at(ix, i, buf), "docker.io/library/nginx:latest");
	}
	/* move nginx:latest to b too: a stays, unnamed */
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "nginx", b.desc), 0);
	IMG_ASSERT_EQ_INT(nentries(ix), 3);
	int unnamed = 0;
	for (size_t i = 0; i < nentries(ix); i++) {
		if (!name_at(ix, i, buf)) {
			unnamed++;
			IMG_ASSERT_EQ_STR(digest_at(ix, i), a.manifest.str);
		} else {
			IMG_ASSERT_EQ_STR(digest_at(ix, i), b.manifest.str);
		}
	}
	IMG_ASSERT_EQ_INT(unnamed, 1);
	/* naming a again reuses its unnamed entry */
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "other:1", a.desc), 0);
	IMG_ASSERT_EQ_INT(nentries(ix), 3);
	/* add_unnamed of a present digest: no change; remove_name */
	IMG_ASSERT_EQ_INT(img_index_add_unnamed(ix, a.desc), 0);
	IMG_ASSERT_EQ_INT(nentries(ix), 3);
	IMG_ASSERT_EQ_INT(img_index_remove_name(ix, "nginx:v3"), 1);   /* b has another name: dropped */
	IMG_ASSERT_EQ_INT(nentries(ix), 2);
	IMG_ASSERT_EQ_INT(img_index_remove_name(ix, "nginx:v3"), 0);
	IMG_ASSERT_EQ_INT(img_index_remove_name(ix, "nginx:latest"), 1);  /* b's last: kept unnamed */
	IMG_ASSERT_EQ_INT(nentries(ix), 2);
	IMG_ASSERT(name_at(ix, 0, buf) == NULL || name_at(ix, 1, buf) == NULL);
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "Bad:Name", a.desc), -1);
	json_decref(ix);
	json_decref(a.desc);
	json_decref(b.desc);
	img_store_close(s);
}

static size_t *resolve(struct img_store *s, json_t *ix, const char *what, size_t *n)
{
	size_t *m = NULL;
	if (img_store_resolve(s, ix, what, &m, n) < 0)
		return NULL;
	return m;
}

TEST(store_resolve)
{
	struct img_store *s = mkstore();
	struct img im[20];
	json_t *ix = empty_index();
	size_t *m, n, i, j;
	char buf[200];
	int amb = -1, nimg = 0;

	IMG_ASSERT(s != NULL);
	/* images until two manifest digests share their first hex digit */
	for (i = 0; i < 20 && amb < 0; i++) {
		char c[32];
		snprintf(c, sizeof c, "content-%zu", i);
		IMG_ASSERT_EQ_INT(mkimage(s, c, c, &im[i]), 0);
		nimg++;
		IMG_ASSERT_EQ_INT(img_index_add_unnamed(ix, im[i].desc), 0);
		for (j = 0; j < i; j++)
			if (img_digest_hex(&im[j].manifest)[0] == img_digest_hex(&im[i].manifest)[0])
				amb = (int)i;
	}
	IMG_ASSERT(amb > 0);
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "nginx:v3", im[0].desc), 0);
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "quay.io/x/y:1", im[1].desc), 0);
	IMG_ASSERT_EQ_INT(img_index_set_name(ix, "nginx:latest", im[0].desc), 0);

	/* by name: full, short, default tag */
	m = resolve(s, ix, "docker.io/library/nginx:v3", &n);
	IMG_ASSERT(m && n == 1);
	IMG_ASSERT_EQ_STR(digest_at(ix, m[0]), im[0].manifest.str);
	free(m);
	m = resolve(s, ix, "nginx:v3", &n);
	IMG_ASSERT(m && n == 1);
	IMG_ASSERT_EQ_STR(digest_at(ix, m[0]), im[0].manifest.str);
	free(m);
	m = resolve(s, ix, "nginx", &n);
	IMG_ASSERT(m && n == 1);
	IMG_ASSERT_EQ_STR(name_at(ix, m[0], buf), "docker.io/library/nginx:latest");
	free(m);
	m = resolve(s, ix, "quay.io/x/y:1", &n);
	IMG_ASSERT(m && n == 1);
	IMG_ASSERT_EQ_STR(digest_at(ix, m[0]), im[1].manifest.str);
	free(m);
	/* name@digest */
	snprintf(buf, sizeof buf, "nginx@%s", im[0].manifest.str);
	m = resolve(s, ix, buf, &n);
	IMG_ASSERT(m && n == 2);
	free(m);

	/* by manifest digest, full and prefix, with and without sha256: -> every entry of it */
	m = resolve(s, ix, im[0].manifest.str, &n);
	IMG_ASSERT(m && n == 2);
	IMG_ASSERT_EQ_STR(digest_at(ix, m[0]), im[0].manifest.str);
	IMG_ASSERT_EQ_STR(digest_at(ix, m[1]), im[0].manifest.str);
	free(m);
	snprintf(buf, sizeof buf, "%.12s", img_digest_hex(&im[0].manifest));
	m = resolve(s, ix, buf, &n);
	IMG_ASSERT(m && n == 2);
	free(m);
	snprintf(buf, sizeof buf, "sha256:%.12s", img_digest_hex(&im[2].manifest));
	m = resolve(s, ix, buf, &n);
	IMG_ASSERT(m && n == 1);
	IMG_ASSERT_EQ_STR(digest_at(ix, m[0]), im[2].manifest.str);
	free(m);
	/* by config ID prefix (what img-ls -q prints) */
	snprintf(buf, sizeof buf, "%.12s", img_digest_hex(&im[1].config));
	m = resolve(s, ix, buf, &n);
	IMG_ASSERT(m && n == 1);
	IMG_ASSERT_EQ_STR(digest_at(ix, m[0]), im[1].manifest.str);
	free(m);
	m = resolve(s, ix, im[1].config.str, &n);
	IMG_ASSERT(m && n == 1);
	free(m);
	/* ambiguous prefix */
	snprintf(buf, sizeof buf, "sha256:%.1s", img_digest_hex(&im[amb].manifest));
	IMG_ASSERT(resolve(s, ix, buf, &n) == NULL);
	IMG_ASSERT_EQ_INT(errno, EINVAL);
	IMG_ASSERT(strstr(img_errmsg(), "ambiguous") != NULL);
	/* no such image */
	IMG_ASSERT(resolve(s, ix, "nginx:v4", &n) == NULL);
	IMG_ASSERT_EQ_INT(errno, ENOENT);
	IMG_ASSERT_EQ_STR(img_errmsg(), "no such image: nginx:v4");
	IMG_ASSERT(resolve(s, ix, "sha256:zz", &n) == NULL);
	IMG_ASSERT(resolve(s, ix, "", &n) == NULL);
	for (i = 0; i < (size_t)nimg; i++)
		json_decref(im[i].desc);
	json_decref(ix);
	img_store_close(s);
}

struct visit {
	int n;
	char seen[32][160];
	int depth[32];
};

static int visit_fn(struct img_store *s, const struct img_desc *d, int depth, void *arg)
{
	struct visit *v = arg;
	(void)s;
	if (v->n < 32) {
		snprintf(v->seen[v->n], sizeof v->seen[0], "%s", d->digest.str);
		v->depth[v->n] = depth;
	}
	v->n++;
	return 0;
}

static int find_seen(struct visit *v, const struct img_digest *d)
{
	for (int i = 0; i < v->n && i < 32; i++)
		if (strcmp(v->seen[i], d->str) == 0)
			return i;
	return -1;
}

static int put_json(struct img_store *s, const char *json, struct img_digest *d)
{
	return img_blob_put(s, json, strlen(json), d);
}

TEST(store_walk_nested)
{
	struct img_store *s = mkstore();
	struct img amd, att, arm;
	struct img_digest inner, outer, opaque;
	struct img_desc root, md;
	struct img_doc man;
	struct img_config cfg;
	struct img_platform plat;
	struct visit v;
	char *j;
	size_t innerlen, outerlen;

	IMG_ASSERT(s != NULL);
	IMG_ASSERT_EQ_INT(mkimage(s, "amd64 layer", "amd", &amd), 0);
	IMG_ASSERT_EQ_INT(mkimage(s, "arm64 layer", "arm", &arm), 0);
	IMG_ASSERT_EQ_INT(mkimage(s, "attestation", "att", &att), 0);
	IMG_ASSERT_EQ_INT(img_blob_put(s, "opaque", 6, &opaque), 0);
	/* inner index: attestation first (unknown/unknown), arm64, amd64, an opaque leaf */
	j = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
	              "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,"
	              "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"},"
	              "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}},"
	              "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,"
	              "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
	              "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%lld,"
	              "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
	              "{\"mediaType\":\"application/x-unknown\",\"digest\":\"%s\",\"size\":6}]}",
	              IMG_MT_OCI_INDEX,
	              IMG_MT_OCI_MANIFEST, att.manifest.str, (long long)json_integer_value(json_object_get(att.desc, "size")),
	              IMG_MT_OCI_MANIFEST, arm.manifest.str, (long long)json_integer_value(json_object_get(arm.desc, "size")),
	              IMG_MT_OCI_MANIFEST, amd.manifest.str, (long long)json_integer_value(json_object_get(amd.desc, "size")),
	              opaque.str);
	IMG_ASSERT_EQ_INT(put_json(s, j, &inner), 0);
	innerlen = strlen(j);
	free(j);
	j = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[{\"mediaType\":\"%s\","
	              "\"digest\":\"%s\",\"size\":%zu}]}", IMG_MT_OCI_INDEX, IMG_MT_OCI_INDEX, inner.str, innerlen);
	IMG_ASSERT_EQ_INT(put_json(s, j, &outer), 0);
	outerlen = strlen(j);
	free(j);

	json_t *od = img_image_desc_new(IMG_MT_OCI_INDEX, &outer, (int64_t)outerlen);
	IMG_ASSERT_EQ_INT(img_image_desc_parse(od, &root), 0);
	memset(&v, 0, sizeof v);
	IMG_ASSERT_EQ_INT(img_store_walk(s, &root, 0, visit_fn, &v), 0);
	/* outer, inner, 3 x (manifest, config, layer), opaque */
	IMG_ASSERT_EQ_INT(v.n, 12);
	IMG_ASSERT_EQ_INT(find_seen(&v, &outer), 0);
	IMG_ASSERT_EQ_INT(v.depth[0], 0);
	IMG_ASSERT_EQ_INT(v.depth[find_seen(&v, &inner)], 1);
	IMG_ASSERT_EQ_INT(v.depth[find_seen(&v, &amd.manifest)], 2);
	IMG_ASSERT_EQ_INT(v.depth[find_seen(&v, &amd.config)], 3);
	IMG_ASSERT_EQ_INT(v.depth[find_seen(&v, &amd.layer)], 3);
	IMG_ASSERT(find_seen(&v, &amd.manifest) < find_seen(&v, &amd.layer));   /* parents first */
	IMG_ASSERT(find_seen(&v, &att.layer) > 0 && find_seen(&v, &arm.config) > 0);
	IMG_ASSERT_EQ_INT(v.depth[find_seen(&v, &opaque)], 2);

	/* pick the image for a platform: attestation skipped, first match */
	IMG_ASSERT_EQ_INT(img_image_platform_parse("linux/amd64", &plat), 0);
	IMG_ASSERT_EQ_INT(img_store_image(s, &root, &plat, &man, &md, &cfg), 0);
	IMG_ASSERT_EQ_STR(md.digest.str, amd.manifest.str);
	IMG_ASSERT_EQ_STR(man.config.digest.str, amd.config.str);
	IMG_ASSERT_EQ_INT(cfg.ndiff, 1);
	img_image_doc_release(&man);
	img_image_config_release(&cfg);
	IMG_ASSERT_EQ_INT(img_image_platform_parse("linux/aarch64/v8", &plat), 0);
	IMG_ASSERT_EQ_INT(img_store_image(s, &root, &plat, &man, &md, &cfg), 0);
	IMG_ASSERT_EQ_STR(md.digest.str, arm.manifest.str);
	img_image_doc_release(&man);
	img_image_config_release(&cfg);
	IMG_ASSERT_EQ_INT(img_image_platform_parse("linux/s390x", &plat), 0);
	IMG_ASSERT_EQ_INT(img_store_image(s, &root, &plat, &man, &md, &cfg), -1);
	IMG_ASSERT(strstr(img_errmsg(), "linux/s390x") != NULL);

	/* a missing manifest: the walk fails, unless tolerant */
	char *p = xasprintf("%s/blobs/sha256/%s", img_store_path(s), img_digest_hex(&arm.manifest));
	IMG_ASSERT_EQ_INT(unlink(p), 0);
	free(p);
	memset(&v, 0, sizeof v);
	IMG_ASSERT_EQ_INT(img_store_walk(s, &root, 0, visit_fn, &v), -1);
	memset(&v, 0, sizeof v);
	IMG_ASSERT_EQ_INT(img_store_walk(s, &root, IMG_WALK_TOLERANT, visit_fn, &v), 0);
	IMG_ASSERT_EQ_INT(v.n, 10);
	IMG_ASSERT(find_seen(&v, &arm.manifest) > 0 && find_seen(&v, &arm.config) < 0);

	json_decref(od);
	json_decref(amd.desc);
	json_decref(arm.desc);
	json_decref(att.desc);
	img_store_close(s);
}

static int skip_all(struct img_store *s, const struct img_desc *d, int depth, void *arg)
{
	(void)s; (void)d;
	(*(int *)arg)++;
	return depth == 0 ? 1 : 0;
}

TEST(store_walk_depth_cap)
{
	struct img_store *s = mkstore();
	struct img_digest d;
	struct img_desc root;
	char *j;
	size_t len;
	int i, count = 0;
	struct visit v;

	IMG_ASSERT(s != NULL);
	/* a chain of 10 nested indexes: deeper than the cap of 8 */
	IMG_ASSERT_EQ_INT(put_json(s, "{\"schemaVersion\":2,\"manifests\":[]}", &d), 0);
	len = strlen("{\"schemaVersion\":2,\"manifests\":[]}");
	for (i = 0; i < 10; i++) {
		j = xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
		              IMG_MT_OCI_INDEX, d.str, len);
		IMG_ASSERT_EQ_INT(put_json(s, j, &d), 0);
		len = strlen(j);
		free(j);
	}
	json_t *od = img_image_desc_new(IMG_MT_OCI_INDEX, &d, (int64_t)len);
	IMG_ASSERT_EQ_INT(img_image_desc_parse(od, &root), 0);
	memset(&v, 0, sizeof v);
	IMG_ASSERT_EQ_INT(img_store_walk(s, &root, 0, visit_fn, &v), -1);
	IMG_ASSERT(strstr(img_errmsg(), "deeper") != NULL);
	/* fn returning 1 does not descend */
	IMG_ASSERT_EQ_INT(img_store_walk(s, &root, 0, skip_all, &count), 0);
	IMG_ASSERT_EQ_INT(count, 1);
	json_decref(od);
	img_store_close(s);
}

/* A writer killed mid-ingest: nothing in blobs/; on a catchable signal the temp file
 * goes too (io's cleanup), on SIGKILL it stays in .img/tmp for img-gc. */
TEST(store_blob_interrupted)
{
	struct img_store *s = mkstore();
	int sigs[2] = { SIGTERM, SIGKILL };

	IMG_ASSERT(s != NULL);
	for (int k = 0; k < 2; k++) {
		int p[2], status;
		char ch;
		pid_t pid;

		IMG_ASSERT_EQ_INT(pipe(p), 0);
		pid = fork();
		if (pid == 0) {
			struct img_store *c;
			struct img_blob_writer *w;
			char buf[4096];
			close(p[0]);
			memset(buf, 'z', sizeof buf);
			if (img_store_open(img_store_path(s), 0, &c) < 0 || img_blob_begin(c, &w) < 0)
				_exit(1);
			for (int i = 0; i < 1000; i++)
				img_blob_write(w, buf, sizeof buf);
			if (write(p[1], "x", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		close(p[1]);
		IMG_ASSERT_EQ_INT(read(p[0], &ch, 1), 1);
		close(p[0]);
		kill(pid, sigs[k]);
		waitpid(pid, &status, 0);
		IMG_ASSERT(WIFSIGNALED(status));
		IMG_ASSERT_EQ_INT(count_in(s, "blobs/sha256"), 0);
		IMG_ASSERT_EQ_INT(count_in(s, ".img/tmp"), k == 0 ? 0 : 1);
	}
	img_store_close(s);
}

static int count_blobs(struct img_store *s, const struct img_desc *d, int depth, void *arg)
{
	(void)s; (void)d; (void)depth;
	(*(int *)arg)++;
	return 0;
}

/* The skopeo-written layout: read without writing anything into it. */
TEST(store_peer_layout)
{
	char *dir = img_test_fixture("peers/tiny-oci-layout"), *p;
	struct img_store *s = NULL;
	json_t *ix;
	size_t *m, n;
	struct img_desc d, md;
	struct img_doc man;
	struct img_config cfg;
	struct stat st;
	int count = 0;

	IMG_ASSERT_EQ_INT(img_store_open(dir, 0, &s), 0);
	ix = img_store_index(s);
	IMG_ASSERT(ix != NULL);
	m = resolve(s, ix, "tiny:2", &n);
	IMG_ASSERT(m && n == 1 && m[0] == 1);
	free(m);
	m = resolve(s, ix, "docker.io/library/tiny:1", &n);
	IMG_ASSERT(m && n == 1 && m[0] == 0);
	free(m);
	m = resolve(s, ix, "7d3e3cec81f9", &n);      /* tiny:2's config ID */
	IMG_ASSERT(m && n == 1 && m[0] == 1);
	free(m);
	IMG_ASSERT_EQ_INT(img_image_desc_parse(json_array_get(json_object_get(ix, "manifests"), 1), &d), 0);
	IMG_ASSERT_EQ_INT(img_store_image(s, &d, NULL, &man, &md, &cfg), 0);
	IMG_ASSERT_EQ_INT(man.n, 2);
	IMG_ASSERT_EQ_INT(cfg.ndiff, 2);
	img_image_doc_release(&man);
	img_image_config_release(&cfg);
	IMG_ASSERT_EQ_INT(img_store_walk(s, &d, 0, count_blobs, &count), 0);
	IMG_ASSERT_EQ_INT(count, 4);
	json_decref(ix);
	img_store_close(s);
	p = xasprintf("%s/.img", dir);
	IMG_ASSERT(stat(p, &st) < 0);
	free(p);
	free(dir);
}

TEST(store_blob_resume)
{
	struct img_store *s;
	struct img_blob_writer *w, *w2;
	struct img_digest d, got;
	static const char data[] = "0123456789abcdefghij";
	char *part;
	struct stat st;

	IMG_ASSERT(img_store_open(img_test_tmpdir, IMG_STORE_CREATE, &s) == 0);
	img_digest_buf(data, 20, &d);
	/* first run: 8 bytes, then given up: they are kept */
	IMG_ASSERT(img_blob_begin_resume(s, &d, 20, &w) == 0);
	IMG_ASSERT_EQ_INT(img_blob_written(w), 0);
	IMG_ASSERT(img_blob_write(w, data, 8) == 0);
	/* a second writer of the same blob meanwhile gets a private temp file */
	IMG_ASSERT(img_blob_begin_resume(s, &d, 20, &w2) == 0);
	IMG_ASSERT_EQ_INT(img_blob_written(w2), 0);
	img_blob_abort(w2);
	img_blob_keep(w);
	part = xasprintf("%s/.img/tmp/part-%s", img_test_tmpdir, img_digest_hex(&d));
	IMG_ASSERT(stat(part, &st) == 0 && st.st_size == 8);
	/* second run goes on from byte 8 */
	IMG_ASSERT(img_blob_begin_resume(s, &d, 20, &w) == 0);
	IMG_ASSERT_EQ_INT(img_blob_written(w), 8);
	IMG_ASSERT(img_blob_write(w, data + 8, 12) == 0);
	IMG_ASSERT(img_blob_commit(w, &d, 20, &got) == 0);
	IMG_ASSERT(img_digest_eq(&got, &d));
	IMG_ASSERT(stat(part, &st) < 0);
	IMG_ASSERT_EQ_INT(img_blob_has(s, &d, NULL), 1);
	/* restart drops what was there; wrong bytes are not kept */
	img_digest_buf("other", 5, &d);
	IMG_ASSERT(img_blob_begin_resume(s, &d, 5, &w) == 0);
	IMG_ASSERT(img_blob_write(w, "xx", 2) == 0);
	IMG_ASSERT(img_blob_restart(w) == 0);
	IMG_ASSERT_EQ_INT(img_blob_written(w), 0);
	IMG_ASSERT(img_blob_write(w, "otheR", 5) == 0);
	IMG_ASSERT(img_blob_commit(w, &d, 5, NULL) < 0);
	free(part);
	part = xasprintf("%s/.img/tmp/part-%s", img_test_tmpdir, img_digest_hex(&d));
	IMG_ASSERT(stat(part, &st) < 0);
	free(part);
	img_store_close(s);
}
