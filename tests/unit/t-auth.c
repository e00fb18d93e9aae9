#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include "test.h"
#include "util.h"
#include "json.h"
#include "auth.h"

TEST(auth_store_lookup_remove)
{
	char *f = xasprintf("%s/d/config.json", img_test_tmpdir), *u, *p;
	FILE *fp;
	struct stat st;

	IMG_ASSERT_EQ_INT(img_auth_lookup(f, "h:5000", &u, &p), 0);
	IMG_ASSERT(img_auth_store(f, "h:5000", "alice", "s3:cr=t") == 0);
	IMG_ASSERT(stat(f, &st) == 0 && (st.st_mode & 0777) == 0600);
	IMG_ASSERT_EQ_INT(img_auth_lookup(f, "h:5000", &u, &p), 1);
	IMG_ASSERT_EQ_STR(u, "alice");
	IMG_ASSERT_EQ_STR(p, "s3:cr=t");
	img_auth_free(u);
	img_auth_free(p);
	/* docker's key for docker.io; other keys and entries kept */
	IMG_ASSERT(img_auth_store(f, "docker.io", "bob", "pw") == 0);
	IMG_ASSERT_EQ_INT(img_auth_lookup(f, "docker.io", &u, &p), 1);
	IMG_ASSERT_EQ_STR(u, "bob");
	img_auth_free(u);
	img_auth_free(p);
	IMG_ASSERT_EQ_INT(img_auth_lookup(f, "h:5000", &u, &p), 1);
	img_auth_free(u);
	img_auth_free(p);
	IMG_ASSERT_EQ_INT(img_auth_remove(f, "h:5000"), 1);
	IMG_ASSERT_EQ_INT(img_auth_remove(f, "h:5000"), 0);
	IMG_ASSERT_EQ_INT(img_auth_lookup(f, "h:5000", &u, &p), 0);
	IMG_ASSERT_EQ_INT(img_auth_lookup(f, "docker.io", &u, &p), 1);
	img_auth_free(u);
	img_auth_free(p);
	/* a URL key names its host; bad base64 is an error */
	fp = fopen(f, "w");
	fputs("{\"credsStore\":\"x\",\"auths\":{\"https://r.example/v1/\":{\"auth\":\"dTpw\"},"
	      "\"bad\":{\"auth\":\"%%%\"}}}", fp);
	fclose(fp);
	IMG_ASSERT_EQ_INT(img_auth_lookup(f, "r.example", &u, &p), 1);
	IMG_ASSERT_EQ_STR(u, "u");
	IMG_ASSERT_EQ_STR(p, "p");
	img_auth_free(u);
	img_auth_free(p);
	IMG_ASSERT_EQ_INT(img_auth_lookup(f, "bad", &u, &p), -1);
	IMG_ASSERT(img_auth_store(f, "new", "n", "m") == 0);
	{
		int fd = open(f, 0);
		json_t *j = img_json_parse_fd(fd, 1 << 20);
		close(fd);
		IMG_ASSERT(j != NULL);
		IMG_ASSERT_EQ_STR(json_string_value(json_object_get(j, "credsStore")), "x");
		json_decref(j);
	}
	free(f);
}
