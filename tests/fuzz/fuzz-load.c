/* Fuzz target "load": the input is an archive read by img-load, as a user runs it:
 * `img-load --check FILE`, then `img-load -S STORE FILE` into a fresh temp store. */
#include <stdio.h>
#include <stdlib.h>

#include "img.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;

	if (!path)
		path = xasprintf("%s/load.tar", fuzz_dir());
	if (fuzz_write_file(path, data, size) < 0)
		abort();
	fuzz_img_load(path, 1);
	return 0;
}
