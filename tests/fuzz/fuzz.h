/* Fuzz targets: each tests/fuzz/fuzz-<target>.c defines LLVMFuzzerTestOneInput. Built two
 * ways: with libFuzzer (make fuzz, clang) and with the plain replay driver replay.c (the
 * normal build), which feeds files to the same function (make check). */
#ifndef IMG_FUZZ_H
#define IMG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for the process, made once under $FUZZ_TMPDIR (else /dev/shm, else
 * $TMPDIR), removed at exit; $TMPDIR is set to it. */
const char *fuzz_dir(void);
/* An anonymous file holding data[0..size), offset 0. fd the caller closes (-1 on failure). */
int fuzz_memfd(const void *data, size_t size);
/* Write data to path (truncated). 0 or -1. */
int fuzz_write_file(const char *path, const void *data, size_t size);
/* A copy of an input the size of whole tar blocks with the checksum of each ustar header
 * on its chain made right, so that a mutated header field reaches the tar reader rather
 * than failing its checksum (libarchive is not instrumented: the fuzzer cannot learn the
 * sum). Other inputs are copied as they are. The caller frees the copy. */
uint8_t *fuzz_tar_fixup(const uint8_t *data, size_t size);
/* Remove a directory tree (errors ignored). */
void fuzz_rmtree(const char *path);

/* A growing byte buffer (a tar written in memory). */
struct fuzz_buf {
	unsigned char *p;
	size_t n, cap;
};
int fuzz_buf_sink(void *arg, const void *buf, size_t n);   /* an img_sink_fn */

/* img-load's main: tools/img-load.c built again with -Dmain=img_load_main and
 * -Dimg_io_close_stdout=fuzz_close_stdout (stdout is flushed, never closed: main runs many
 * times in one process). */
int img_load_main(int argc, char **argv);
int fuzz_close_stdout(void);
/* Run img-load on path: with --check, then (platform) with --check --platform, then (load)
 * into a fresh store. */
void fuzz_img_load(const char *path, const char *platform, int load);
/* Read an archive as img-layers --archive and img-diff do (arcimg.h): every image
 * view it holds, each layer opened, sized and scanned into a tree. */
void fuzz_arcimg(int fd);

#endif
