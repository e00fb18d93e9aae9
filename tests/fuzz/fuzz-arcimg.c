/* Fuzz target "arcimg": the input is an archive read by archive-image.h as img-layers
 * --archive and img-diff read it (each file read as a layer while it streams): every
 * image view it holds, each layer sized, and its records applied to trees. Tar header
 * checksums are made right first (fuzz_tar_fixup). */
#include <stdlib.h>
#include <unistd.h>

#include "img.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *tar = fuzz_tar_fixup(data, size);
	int fd;

	fd = fuzz_memfd(tar, size);
	if (fd >= 0) {
		fuzz_arcimg(fd);
		close(fd);
	}
	free(tar);
	return 0;
}
