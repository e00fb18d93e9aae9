#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "util.h"
#include "reg.h"

TEST(registry_hosts)
{
	IMG_ASSERT_EQ_STR(img_reg_host("docker.io"), "registry-1.docker.io");
	IMG_ASSERT_EQ_STR(img_reg_host("quay.io"), "quay.io");
	IMG_ASSERT(img_reg_is_loopback("127.0.0.1:5000"));
	IMG_ASSERT(img_reg_is_loopback("localhost"));
	IMG_ASSERT(img_reg_is_loopback("[::1]:5000"));
	IMG_ASSERT(!img_reg_is_loopback("localhost.example.com"));
	IMG_ASSERT(!img_reg_is_loopback("10.0.0.1:5000"));
	IMG_ASSERT(img_reg_is_loopback("127.1.2.3"));
	IMG_ASSERT(!img_reg_is_loopback("127.example.com:5000"));
	IMG_ASSERT(!img_reg_is_loopback("127.0.0.1.nip.io"));
}

TEST(registry_unreachable)
{
	struct img_reg_opts o = { .tls_verify = 1, .retries = 0, .authfile = "/nonexistent" };
	struct img_reg *r;
	struct img_reg_conn *c;
	char *buf, *mt, *dg;
	size_t len;

	/* port 1 on loopback: nothing listens; the error names the request, no retry */
	IMG_ASSERT(img_reg_open("127.0.0.1:1", &o, &r) == 0);
	c = img_reg_conn_new(r);
	IMG_ASSERT(img_reg_api_get_manifest(c, "x", "1", 1 << 20, &buf, &len, &mt, &dg) < 0);
	IMG_ASSERT(strncmp(img_errmsg(), "manifest x:1: ", 14) == 0);
	img_reg_conn_free(c);
	img_reg_free(r);
	/* a cert dir that is not a directory */
	o.cert_dir = "/nonexistent";
	IMG_ASSERT(img_reg_open("127.0.0.1:1", &o, &r) < 0);
	IMG_ASSERT(strstr(img_errmsg(), "--cert-dir") != NULL);
}
