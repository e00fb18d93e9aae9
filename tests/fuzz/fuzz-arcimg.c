/* Fuzz target "arcimg": the input is an archive read by archive-image.h as img-layers
 * --archive and img-diff read it: every image view it holds, each layer sized, and
 * scanned into a tree both ways (one by one, and read ahead together). */
#include <unistd.h>

#include "img.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;

	(void)fuzz_dir();   /* $TMPDIR for the spooled entries */
	fd = fuzz_memfd(data, size);
	if (fd < 0)
		return 0;
	fuzz_arcimg(fd);
	close(fd);
	return 0;
}
