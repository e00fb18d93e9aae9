/* The plain driver of a fuzz target (no libFuzzer): each FILE is given, whole, to
 * LLVMFuzzerTestOneInput. Exit 0 when every call returned; a crash or a sanitizer report
 * ends the process, and so does an input that takes more than 60 s. For make check:
 * replay the kept findings and the seeds. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "img.h"
#include "fuzz.h"

int main(int argc, char **argv)
{
	img_util_setprogname(argv[0]);
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE...\n", img_util_progname());
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int fd = img_io_open_in(argv[i]);
		char *buf = NULL;
		size_t len = 0;
		if (fd < 0 || img_json_read_capped(fd, (size_t)64 << 20, &buf, &len) < 0) {
			fprintf(stderr, "%s: %s: %s\n", img_util_progname(), argv[i], img_errmsg());
			return 1;
		}
		close(fd);
		alarm(60);   /* a hang is a failure (make fuzz: -timeout) */
		LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
		alarm(0);
		free(buf);
	}
	return 0;
}
