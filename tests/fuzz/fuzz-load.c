/* Fuzz target "load": the input is an archive read by img-load, as a user runs it:
 * `img-load --check FILE`, then `img-load -S STORE FILE` into a fresh temp store (tar
 * header checksums made right first: fuzz_tar_fixup). */
#include <stdio.h>
#include <stdlib.h>

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
	fuzz_img_load(path, 1);
	free(tar);
	return 0;
}
