/* A small TAP unit-test framework for common/. Each test is TEST(name) { ... }. */
#ifndef IMG_TEST_H
#define IMG_TEST_H
#include <stdio.h>
#include <string.h>

extern int img_test_failed;
extern const char *img_test_tmpdir;   /* a fresh empty directory for each test */

/* The path of REL under tests/fixtures ($IMG_FIXTURES, else the checkout's, fixed at build
 * time); the caller frees it. */
char *img_test_fixture(const char *rel);
/* A new store in img_test_tmpdir/store (img_store_close frees it); NULL, with a "#" line
 * saying why, when it cannot be made. */
struct img_store;
struct img_store *img_test_store(void);

#define TEST(name) void test_##name(void); void test_##name(void)

#define IMG_ASSERT(c) do { if (!(c)) { \
	printf("# %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c); \
	img_test_failed = 1; return; } } while (0)
#define IMG_ASSERT_EQ_INT(a, b) do { long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) { printf("# %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, _a, _b); \
	img_test_failed = 1; return; } } while (0)
#define IMG_ASSERT_EQ_STR(a, b) do { const char *_a = (a), *_b = (b); \
	if (!_a || !_b || strcmp(_a, _b) != 0) { printf("# %s:%d: %s == \"%s\", expected \"%s\"\n", \
	__FILE__, __LINE__, #a, _a ? _a : "(null)", _b ? _b : "(null)"); \
	img_test_failed = 1; return; } } while (0)
#endif
