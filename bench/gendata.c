/* gendata: the bench's input trees, made from a fixed seed (no network, no host files).
 *
 *   gendata rootfs DIR MB   a root filesystem of about MB megabytes: many small text-like
 *                           files (compress ~4x) and a few large semi-compressible ones
 *   gendata layer DIR MB N  about MB megabytes of incompressible data in a few large
 *                           files plus N small files
 *   gendata file PATH BYTES SEED   one incompressible file
 *   gendata files DIR N     N small text files (16 to 271 bytes) in a tree of directories,
 *                           for what grows with the number of paths
 *   gendata store DIR IMAGES LAYERS  an OCI layout with IMAGES named images of LAYERS
 *                           small layers each (IMAGES * (LAYERS + 2) blobs)
 */
#include <openssl/sha.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t s[2] = { 0x9e3779b97f4a7c15ull, 0xbf58476d1ce4e5b9ull };

static uint64_t rnd(void)
{
	uint64_t a = s[0], b = s[1], r = a + b;
	b ^= a;
	s[0] = ((a << 55) | (a >> 9)) ^ b ^ (b << 14);
	s[1] = (b << 36) | (b >> 28);
	return r;
}

static void seed(uint64_t v)
{
	s[0] ^= v * 0x9e3779b97f4a7c15ull;
	s[1] ^= v + 0x632be59bd9b4e019ull;
	for (int i = 0; i < 16; i++) rnd();
}

static const char *words[] = {
	"the", "image", "layer", "config", "manifest", "index", "blob", "digest", "sha256",
	"tar", "gzip", "zstd", "store", "lock", "name", "tag", "library", "nginx", "alpine",
	"debian", "usr", "lib", "share", "bin", "etc", "var", "opt", "root", "home", "file",
	"directory", "symlink", "hardlink", "mode", "owner", "group", "size", "time", "int",
	"return", "struct", "static", "const", "char", "void", "if", "else", "for", "while",
	"0x0000", "0xffff", "error", "warning", "info", "debug", "printf", "malloc", "free",
	"{", "}", "(", ")", ";", "=", "==", "->", "#include", "<stdio.h>", "\n", "\n\t", "  ",
};

static void fill_text(char *buf, size_t n)
{
	size_t o = 0, nw = sizeof words / sizeof words[0];
	while (o < n) {
		const char *w = words[rnd() % nw];
		size_t l = strlen(w);
		if (o + l + 1 > n) l = n - o - 1 < l ? (n - o > 0 ? n - o - 1 : 0) : l;
		memcpy(buf + o, w, l);
		o += l;
		if (o < n) buf[o++] = ' ';
	}
}

static void fill_random(char *buf, size_t n)
{
	size_t i;
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t v = rnd();
		memcpy(buf + i, &v, 8);
	}
	for (; i < n; i++) buf[i] = (char)rnd();
}

static void mkdirs(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(tmp, 0755);
			*p = '/';
		}
	}
	mkdir(tmp, 0755);
}

static void write_file(const char *path, size_t size, int kind)
{
	static char buf[1 << 20];
	FILE *f = fopen(path, "wb");
	if (!f) { perror(path); exit(1); }
	while (size) {
		size_t n = size < sizeof buf ? size : sizeof buf;
		if (kind == 0) fill_text(buf, n);
		else if (kind == 1) fill_random(buf, n);
		else { /* semi: alternate 4 KiB of text and of random */
			for (size_t o = 0; o < n; o += 4096) {
				size_t m = n - o < 4096 ? n - o : 4096;
				if ((o / 4096) % 2) fill_random(buf + o, m);
				else fill_text(buf + o, m);
			}
		}
		if (fwrite(buf, 1, n, f) != n) { perror(path); exit(1); }
		size -= n;
	}
	if (fclose(f)) { perror(path); exit(1); }
}

static void small_files(const char *dir, size_t count, size_t *total)
{
	char path[4096];
	for (size_t i = 0; i < count; i++) {
		snprintf(path, sizeof path, "%s/usr/share/d%02zu/s%03zu", dir, i % 97, (i / 97) % 211);
		mkdirs(path);
		snprintf(path + strlen(path), sizeof path - strlen(path), "/f%06zu.txt", i);
		size_t sz = 256 + rnd() % 12000;
		write_file(path, sz, 0);
		*total += sz;
	}
}

static void many_files(const char *dir, size_t count)
{
	char path[4096];
	for (size_t i = 0; i < count; i++) {
		snprintf(path, sizeof path, "%s/usr/lib/p%02zu/m%03zu", dir, i % 89, (i / 89) % 223);
		if (i < 89 * 223)
			mkdirs(path);
		snprintf(path + strlen(path), sizeof path - strlen(path), "/file-%07zu.dat", i);
		write_file(path, 16 + rnd() % 256, 0);
	}
}

static void blob(const char *dir, const void *buf, size_t n, char hex[65])
{
	unsigned char md[32];
	char path[4096];
	FILE *f;
	SHA256(buf, n, md);
	for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", md[i]);
	snprintf(path, sizeof path, "%s/blobs/sha256/%s", dir, hex);
	if (!(f = fopen(path, "wb")) || fwrite(buf, 1, n, f) != n || fclose(f)) { perror(path); exit(1); }
}

static void store(const char *dir, int images, int layers)
{
	char path[4096], hex[65], cfg[65], man[65];
	static char doc[1 << 20];
	FILE *idx;
	snprintf(path, sizeof path, "%s/blobs/sha256", dir);
	mkdirs(path);
	snprintf(path, sizeof path, "%s/oci-layout", dir);
	idx = fopen(path, "w");
	fputs("{\"imageLayoutVersion\":\"1.0.0\"}", idx);
	fclose(idx);
	snprintf(path, sizeof path, "%s/index.json", dir);
	idx = fopen(path, "w");
	fputs("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[", idx);
	for (int i = 0; i < images; i++) {
		char layer[200], diffs[1 << 14] = "", descs[1 << 14] = "";
		size_t dl = 0, ll = 0;
		for (int l = 0; l < layers; l++) {
			fill_random(layer, sizeof layer);
			blob(dir, layer, sizeof layer, hex);
			dl += (size_t)snprintf(diffs + dl, sizeof diffs - dl, "%s\"sha256:%s\"", l ? "," : "", hex);
			ll += (size_t)snprintf(descs + ll, sizeof descs - ll,
				"%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\",\"size\":%zu}",
				l ? "," : "", hex, sizeof layer);
		}
		int n = snprintf(doc, sizeof doc, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
			"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}", diffs);
		blob(dir, doc, (size_t)n, cfg);
		size_t cl = (size_t)n;
		n = snprintf(doc, sizeof doc, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
			"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu},"
			"\"layers\":[%s]}", cfg, cl, descs);
		blob(dir, doc, (size_t)n, man);
		fprintf(idx, "%s{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":%d,"
			"\"annotations\":{\"org.opencontainers.image.ref.name\":\"docker.io/bench/gc:%d\",\"io.containerd.image.name\":\"docker.io/bench/gc:%d\"}}",
			i ? "," : "", man, n, i, i);
	}
	fputs("]}", idx);
	fclose(idx);
}

int main(int argc, char **argv)
{
	char path[4096];
	size_t total = 0;

	if (argc >= 4 && strcmp(argv[1], "rootfs") == 0) {
		size_t mb = strtoul(argv[3], NULL, 10);
		seed(1);
		/* about 45% in small text files, the rest in large semi-compressible ones */
		size_t small = mb * 1000000 * 45 / 100 / 6300;
		small_files(argv[2], small, &total);
		snprintf(path, sizeof path, "%s/usr/lib/big", argv[2]);
		mkdirs(path);
		for (int i = 0; total < mb * 1000000; i++) {
			size_t sz = 4000000 + rnd() % 8000000;
			snprintf(path, sizeof path, "%s/usr/lib/big/lib%02d.so", argv[2], i);
			write_file(path, sz, 2);
			total += sz;
		}
		snprintf(path, sizeof path, "%s/etc", argv[2]);
		mkdirs(path);
		snprintf(path, sizeof path, "%s/etc/os-release", argv[2]);
		write_file(path, 100, 0);
	} else if (argc >= 5 && strcmp(argv[1], "layer") == 0) {
		size_t mb = strtoul(argv[3], NULL, 10), n = strtoul(argv[4], NULL, 10);
		seed(2);
		snprintf(path, sizeof path, "%s/data", argv[2]);
		mkdirs(path);
		for (int i = 0; i < 5; i++) {
			snprintf(path, sizeof path, "%s/data/blob%d.bin", argv[2], i);
			write_file(path, mb * 1000000 / 5, 1);
		}
		seed(3);
		small_files(argv[2], n, &total);
	} else if (argc >= 5 && strcmp(argv[1], "file") == 0) {
		seed(strtoull(argv[4], NULL, 10));
		write_file(argv[2], strtoull(argv[3], NULL, 10), 1);
	} else if (argc >= 4 && strcmp(argv[1], "files") == 0) {
		seed(5);
		many_files(argv[2], strtoul(argv[3], NULL, 10));
	} else if (argc >= 5 && strcmp(argv[1], "store") == 0) {
		seed(4);
		store(argv[2], atoi(argv[3]), atoi(argv[4]));
	} else {
		fprintf(stderr, "usage: gendata rootfs DIR MB | layer DIR MB N | file PATH BYTES SEED | files DIR N | store DIR IMAGES LAYERS\n");
		return 2;
	}
	return 0;
}
