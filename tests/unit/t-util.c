/* util: the last error text. */
#include <errno.h>
#include "test.h"
#include "util.h"

/* A message that wraps the last one (img_seterr("x: %s", img_errmsg())) keeps it whole. */
TEST(seterr_wraps_itself)
{
	img_seterr("JSON nested deeper than %d levels", 64);
	img_seterr("manifest.json: %s", img_errmsg());
	IMG_ASSERT_EQ_STR(img_errmsg(), "manifest.json: JSON nested deeper than 64 levels");
	img_seterr("'%s': %s", "a", img_errmsg());
	IMG_ASSERT_EQ_STR(img_errmsg(), "'a': manifest.json: JSON nested deeper than 64 levels");
	errno = ENOENT;
	img_seterr_errno("x %s", img_errmsg());
	IMG_ASSERT_EQ_STR(img_errmsg(),
	                  "x 'a': manifest.json: JSON nested deeper than 64 levels: No such file or directory");
}
