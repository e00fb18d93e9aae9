/* Fuzz target "arcimg": the input is an archive read by arcimg.h as img-layers
 * --archive and img-diff read it: every image view it holds, each layer sized, and its
 * files applied to trees. The archive is read twice: as it is, from a file (its layers
 * read back from it), and gzip-compressed (each file read as a layer while it streams, as
 * from a pipe). Tar header checksums are made right first (fuzz_tar_fixup). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "fuzz.h"

struct gz { unsigned char *p; size_t n, cap; };

static int gz_sink(void *arg, const void *buf, size_t n)
{
	struct gz *g = arg;

	IMG_GROW(g->p, g->n + n, g->cap);
	memcpy(g->p + g->n, buf, n);
	g->n += n;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *tar = fuzz_tar_fixup(data, size);
	struct img_compw *w;
	struct gz g = { 0 };
	int fd;

	fd = fuzz_memfd(tar, size);
	if (fd >= 0) {
		fuzz_arcimg(fd);
		close(fd);
	}
	w = img_comp_enc_new(IMG_COMP_GZIP, 1, gz_sink, &g);
	if (w && img_comp_enc_write(w, tar, size) == 0 && img_comp_enc_finish(w) == 0 &&
	    (fd = fuzz_memfd(g.p, g.n)) >= 0) {
		fuzz_arcimg(fd);
		close(fd);
	}
	img_comp_enc_free(w);
	free(g.p);
	free(tar);
	return 0;
}
