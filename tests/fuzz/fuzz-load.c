/* Fuzz target "load": the input is an archive read by img-load, as a user runs it:
 * `img-load --check FILE` (and with `--platform linux/arm64` when it holds an index.json),
 * then `img-load -S STORE FILE` into a fresh temp store (tar header checksums made right
 * first: fuzz_tar_fixup). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;
	uint8_t *tar = fuzz_tar_fixup(data, size);

	if (!path)
		path = xasprintf("%s/load.tar", fuzz_dir());
	if (fuzz_write_file(path, tar, size) < 0)
		abort();
	/* an index: also the manifest for another platform than the host's */
	fuzz_img_load(path, memmem(tar, size, "index.json", 10) ? "linux/arm64" : NULL, 1);
	free(tar);
	return 0;
}
