/* bstate: K=V arrays; a state written and read back. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "test.h"
#include "util.h"
#include "store.h"
#include "bstate.h"

TEST(bstate_kv)
{
	json_t *a = json_array();

	img_bstate_kv_set(a, "A", "1");
	img_bstate_kv_set(a, "B", "2");
	img_bstate_kv_set(a, "A", "3");
	IMG_ASSERT_EQ_INT(json_array_size(a), 2);
	IMG_ASSERT_EQ_STR(img_bstate_kv_get(a, "A"), "3");
	IMG_ASSERT(img_bstate_kv_get(a, "AB") == NULL);
	json_decref(a);
}

TEST(bstate_write_commit_read)
{
	struct img_store *s = img_test_store();
	struct img_bstate st, back;
	struct img_digest m0;

	IMG_ASSERT(s);
	memset(&st, 0, sizeof st);
	st.config = json_pack("{s:s,s:s,s:{}}", "architecture", "amd64", "os", "linux", "config");
	st.layers = json_array();
	IMG_ASSERT_EQ_INT(img_bstate_write(s, &st), 0);
	m0 = st.manifest;
	json_object_set_new(img_bstate_cfg(&st), "User", json_string("1"));
	IMG_ASSERT_EQ_INT(img_bstate_commit(s, &st, "2023-11-14T22:13:20Z", "USER 1", NULL, NULL), 0);
	IMG_ASSERT(!img_digest_eq(&m0, &st.manifest));
	IMG_ASSERT_EQ_INT(img_bstate_read(s, &st.manifest, &back), 1);
	IMG_ASSERT_EQ_STR(json_string_value(json_object_get(img_bstate_cfg(&back), "User")), "1");
	IMG_ASSERT(json_is_true(json_object_get(json_array_get(json_object_get(back.config, "history"), 0),
	                                        "empty_layer")));
	img_bstate_release(&back);
	img_bstate_release(&st);
	img_store_close(s);
}
