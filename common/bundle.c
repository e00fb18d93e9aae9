/* bundle: config.json of an OCI runtime bundle (see bundle.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "util.h"
#include "io.h"
#include "json.h"
#include "image.h"
#include "bundle.h"

#define ETC_MAX (4u << 20)

/* The rootfs file path (etc/passwd), read whole: symlinks are resolved inside the rootfs
 * (RESOLVE_IN_ROOT). NULL when missing or unreadable. */
static char *read_in_root(int rootfd, const char *path)
{
	struct open_how how;
	char *buf = NULL;
	size_t len;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0)
		return NULL;
	{
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return NULL;
		}
	}
	if (img_json_read_capped(fd, ETC_MAX, &buf, &len) < 0) {
		close(fd);
		return NULL;
	}
	close(fd);
	buf = xrealloc(buf, len + 1);
	buf[len] = '\0';
	return buf;
}

/* Field i (from 0) of a colon-separated line, copied into out. */
static int field(const char *line, size_t len, int i, char *out, size_t cap)
{
	const char *p = line, *end = line + len;

	for (; i > 0; i--) {
		p = memchr(p, ':', (size_t)(end - p));
		if (!p)
			return -1;
		p++;
	}
	const char *q = memchr(p, ':', (size_t)(end - p));
	size_t n = (size_t)((q ? q : end) - p);
	if (n >= cap)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int parse_id(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xfffffffful)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Find in a passwd or group file the line whose field key_i is key; copy fields. */
typedef int (*line_fn)(void *arg, const char *line, size_t len);

static void each_line(const char *text, line_fn fn, void *arg)
{
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len && p[0] != '#' && fn(arg, p, len))
			return;
		p = nl ? nl + 1 : NULL;
	}
}

struct pw_find {
	const char *name;     /* by name, or */
	int by_id;
	unsigned id;
	int found;
	char pname[256], home[4096];
	unsigned uid, gid;
};

static int pw_line(void *arg, const char *line, size_t len)
{
	struct pw_find *f = arg;
	char name[256], uid[32], gid[32], home[4096];

	if (field(line, len, 0, name, sizeof(name)) < 0 || field(line, len, 2, uid, sizeof(uid)) < 0 ||
	    field(line, len, 3, gid, sizeof(gid)) < 0)
		return 0;
	if (field(line, len, 5, home, sizeof(home)) < 0)
		home[0] = '\0';
	if (f->by_id) {
		unsigned u;
		if (parse_id(uid, &u) < 0 || u != f->id)
			return 0;
	} else if (strcmp(name, f->name) != 0) {
		return 0;
	}
	if (parse_id(uid, &f->uid) < 0 || parse_id(gid, &f->gid) < 0)
		return 0;
	snprintf(f->pname, sizeof(f->pname), "%s", name);
	snprintf(f->home, sizeof(f->home), "%s", home);
	f->found = 1;
	return 1;
}

struct gr_find {
	const char *name;       /* a group by name (for :GROUP) */
	int found;
	unsigned gid;
	const char *member;     /* or: every group listing member */
	unsigned primary;
	unsigned *gids;
	size_t n, cap;
};

static int gr_line(void *arg, const char *line, size_t len)
{
	struct gr_find *f = arg;
	char name[256], gid[32], members[8192];
	unsigned g;

	if (field(line, len, 0, name, sizeof(name)) < 0 || field(line, len, 2, gid, sizeof(gid)) < 0 ||
	    parse_id(gid, &g) < 0)
		return 0;
	if (f->name) {
		if (strcmp(name, f->name) != 0)
			return 0;
		f->gid = g;
		f->found = 1;
		return 1;
	}
	if (field(line, len, 3, members, sizeof(members)) < 0)
		return 0;
	for (char *save = NULL, *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		if (strcmp(m, f->member) == 0 && g != f->primary && f->n < 64) {
			IMG_GROW(f->gids, f->n + 1, f->cap);
			f->gids[f->n++] = g;
			break;
		}
	}
	return 0;
}

int img_bundle_user(int rootfd, const char *user, unsigned *uid, unsigned *gid,
                    unsigned **gids, size_t *ngids, char **home)
{
	char *spec = xstrdup(user ? user : ""), *grp = strchr(spec, ':');
	char *passwd = read_in_root(rootfd, "etc/passwd"), *group = NULL;
	struct pw_find pf;
	int ret = -1;

	*gids = NULL;
	*ngids = 0;
	*home = NULL;
	if (grp)
		*grp++ = '\0';
	memset(&pf, 0, sizeof(pf));
	*uid = *gid = 0;
	if (!spec[0] || parse_id(spec, &pf.id) == 0) {
		pf.by_id = 1;
		if (!spec[0])
			pf.id = 0;
		*uid = pf.id;
		if (passwd)
			each_line(passwd, pw_line, &pf);
		if (pf.found)
			*gid = pf.gid;
	} else {
		pf.name = spec;
		if (passwd)
			each_line(passwd, pw_line, &pf);
		if (!pf.found) {
			char *e = img_util_escape(spec);
			img_seterr("unknown user '%s' (not in the image's /etc/passwd)", e);
			free(e);
			goto out;
		}
		*uid = pf.uid;
		*gid = pf.gid;
	}
	group = read_in_root(rootfd, "etc/group");
	if (grp && grp[0]) {
		if (parse_id(grp, gid) < 0) {
			struct gr_find gf;
			memset(&gf, 0, sizeof(gf));
			gf.name = grp;
			if (group)
				each_line(group, gr_line, &gf);
			if (!gf.found) {
				char *e = img_util_escape(grp);
				img_seterr("unknown group '%s' (not in the image's /etc/group)", e);
				free(e);
				goto out;
			}
			*gid = gf.gid;
		}
	} else if (pf.found && group) {
		/* supplementary groups, as docker gives them when no group is named */
		struct gr_find gf;
		memset(&gf, 0, sizeof(gf));
		gf.member = pf.pname;
		gf.primary = *gid;
		each_line(group, gr_line, &gf);
		*gids = gf.gids;
		*ngids = gf.n;
	}
	*home = xstrdup(pf.found && pf.home[0] ? pf.home : "/");
	ret = 0;
out:
	free(spec);
	free(passwd);
	free(group);
	return ret;
}

static json_t *strings(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static const char *const caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};
#define NCAPS (sizeof(caps) / sizeof(caps[0]))

static json_t *mount(const char *dest, const char *type, const char *src, const char *opts)
{
	json_t *m = json_pack("{s:s,s:s,s:s}", "destination", dest, "type", type, "source", src);
	json_t *o = json_array();
	char *copy = xstrdup(opts);

	for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(o, json_string(t));
	free(copy);
	json_object_set_new(m, "options", o);
	return m;
}

/* Set K=V in env (an array of "K=V"), replacing an entry for K. */
static void env_set(json_t *env, const char *kv)
{
	size_t klen = strcspn(kv, "="), i;
	json_t *e;

	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && strncmp(s, kv, klen) == 0 && (s[klen] == '=' || s[klen] == '\0')) {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static int env_has(json_t *env, const char *key)
{
	size_t klen = strlen(key), i;
	json_t *e;

	json_array_foreach(env, i, e) {
		const char *s = json_string_value(e);
		if (s && strncmp(s, key, klen) == 0 && s[klen] == '=')
			return 1;
	}
	return 0;
}

static int append_strings(json_t *dst, json_t *src, const char *what)
{
	size_t i;
	json_t *e;

	if (!src || json_is_null(src))
		return 0;
	if (!json_is_array(src)) {
		img_seterr("image config: %s is not an array", what);
		return -1;
	}
	json_array_foreach(src, i, e) {
		if (!json_is_string(e)) {
			img_seterr("image config: %s holds a non-string", what);
			return -1;
		}
		json_array_append(dst, e);
	}
	return 0;
}

json_t *img_bundle_config(const struct img_config *c, int rootfd,
                          const struct img_bundle_opts *o)
{
	json_t *cfg = c->config && json_is_object(c->config) ? c->config : NULL;
	json_t *args = json_array(), *env = json_array(), *doc = NULL, *proc, *user, *mounts;
	const char *wd = NULL, *u = o->user;
	unsigned uid, gid, *gids = NULL;
	size_t ngids = 0;
	char *home = NULL;

	/* the command: Entrypoint + Cmd, as docker run puts them together */
	if (o->entrypoint) {
		if (o->entrypoint[0])
			json_array_append_new(args, json_string(o->entrypoint));
	} else if (cfg && append_strings(args, json_object_get(cfg, "Entrypoint"), "Entrypoint") < 0) {
		goto fail;
	}
	if (o->cmd) {
		for (size_t i = 0; i < o->ncmd; i++)
			json_array_append_new(args, json_string(o->cmd[i]));
	} else if (!o->entrypoint && cfg &&
	           append_strings(args, json_object_get(cfg, "Cmd"), "Cmd") < 0) {
		goto fail;
	}
	if (json_array_size(args) == 0) {
		img_seterr("no command: the image has no Entrypoint or Cmd and none was given");
		goto fail;
	}
	if (cfg && append_strings(env, json_object_get(cfg, "Env"), "Env") < 0)
		goto fail;
	for (size_t i = 0; i < o->nenv; i++) {
		if (strchr(o->env[i], '=')) {
			env_set(env, o->env[i]);
		} else {
			const char *v = getenv(o->env[i]);
			if (v) {
				char *kv = xasprintf("%s=%s", o->env[i], v);
				env_set(env, kv);
				free(kv);
			}
		}
	}
	if (!env_has(env, "PATH"))
		env_set(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	if (o->terminal && !env_has(env, "TERM"))
		env_set(env, "TERM=xterm");
	{
		char *h = xasprintf("HOSTNAME=%s", o->hostname ? o->hostname : "img");
		if (!env_has(env, "HOSTNAME"))
			env_set(env, h);
		free(h);
	}
	if (!u && cfg)
		img_json_str(cfg, "User", &u);
	if (img_bundle_user(rootfd, u, &uid, &gid, &gids, &ngids, &home) < 0)
		goto fail;
	if (!env_has(env, "HOME")) {
		char *h = xasprintf("HOME=%s", home);
		env_set(env, h);
		free(h);
	}
	wd = o->workdir;
	if (!wd && cfg)
		img_json_str(cfg, "WorkingDir", &wd);
	if (!wd || !wd[0])
		wd = "/";
	if (wd[0] != '/') {
		char *e = img_util_escape(wd);
		img_seterr("working directory '%s' is not absolute", e);
		free(e);
		goto fail;
	}

	user = json_pack("{s:I,s:I}", "uid", (json_int_t)uid, "gid", (json_int_t)gid);
	if (ngids) {
		json_t *g = json_array();
		for (size_t i = 0; i < ngids; i++)
			json_array_append_new(g, json_integer(gids[i]));
		json_object_set_new(user, "additionalGids", g);
	}
	proc = json_object();
	json_object_set_new(proc, "terminal", json_boolean(o->terminal));
	json_object_set_new(proc, "user", user);
	json_object_set_new(proc, "args", args);
	args = NULL;
	json_object_set_new(proc, "env", env);
	env = NULL;
	json_object_set_new(proc, "cwd", json_string(wd));
	{
		json_t *cp = json_object(), *all = strings(caps, NCAPS);
		json_object_set(cp, "bounding", all);
		/* a process that is not root gets none in effect, as docker does */
		json_object_set_new(cp, "effective", uid == 0 ? json_copy(all) : json_array());
		json_object_set_new(cp, "permitted", uid == 0 ? json_copy(all) : json_array());
		json_decref(all);
		json_object_set_new(proc, "capabilities", cp);
	}
	json_object_set_new(proc, "rlimits", json_pack("[{s:s,s:i,s:i}]", "type", "RLIMIT_NOFILE",
	                                              "hard", 1024, "soft", 1024));
	json_object_set_new(proc, "noNewPrivileges", json_false());

	mounts = json_array();
	json_array_append_new(mounts, mount("/proc", "proc", "proc", "nosuid,noexec,nodev"));
	json_array_append_new(mounts, mount("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
	json_array_append_new(mounts, mount("/dev/pts", "devpts", "devpts",
	                                    "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
	json_array_append_new(mounts, mount("/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k"));
	json_array_append_new(mounts, mount("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
	json_array_append_new(mounts, mount("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"));

	doc = json_object();
	json_object_set_new(doc, "ociVersion", json_string("1.0.2"));
	json_object_set_new(doc, "process", proc);
	json_object_set_new(doc, "root", json_pack("{s:s,s:b}", "path", o->rootfs ? o->rootfs : "rootfs",
	                                           "readonly", o->readonly));
	json_object_set_new(doc, "hostname", json_string(o->hostname ? o->hostname : "img"));
	json_object_set_new(doc, "mounts", mounts);
	json_object_set_new(doc, "linux", json_pack(
		"{s:{s:[{s:b,s:s}]},s:[{s:s},{s:s},{s:s},{s:s},{s:s}],s:[s,s,s,s,s,s,s,s],s:[s,s,s,s,s,s]}",
		"resources", "devices", "allow", 0, "access", "rwm",
		"namespaces", "type", "pid", "type", "network", "type", "ipc", "type", "uts",
		"type", "mount",
		"maskedPaths", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
		"readonlyPaths", "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
		"/proc/sysrq-trigger"));
fail:
	json_decref(args);
	json_decref(env);
	free(gids);
	free(home);
	return doc;
}

int img_bundle_write(int dirfd, json_t *doc)
{
	char *text = img_json_dump(doc, NULL);
	char tmp[64];
	int fd, ret = -1;

	snprintf(tmp, sizeof(tmp), ".config.json.%ld", (long)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		img_seterr_errno("cannot write config.json");
		free(text);
		return -1;
	}
	if (img_io_write_all(fd, text, strlen(text)) < 0 || img_io_write_all(fd, "\n", 1) < 0 ||
	    fsync(fd) < 0) {
		img_seterr_errno("cannot write config.json");
		close(fd);
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	close(fd);
	if (renameat(dirfd, tmp, dirfd, "config.json") < 0) {
		img_seterr_errno("cannot write config.json");
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	ret = 0;
out:
	free(text);
	return ret;
}
