/* config: Dockerfile instructions applied to a config's "config" object. */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "test.h"
#include "util.h"
#include "config.h"

/* Apply the NULL-terminated instructions to the config `start` (JSON text) and return
 * the result as compact JSON with sorted keys (caller frees), or "ERR: message". */
static char *apply_v(const char *start, const char *const *instrs)
{
	json_t *cfg = json_loads(start, 0, NULL);
	size_t n = 0;
	char *out;

	while (instrs[n])
		n++;
	if (img_config_changes(cfg, instrs, n) < 0)
		out = xasprintf("ERR: %s", img_errmsg());
	else
		out = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(cfg);
	return out;
}

#define APPLY(start, ...) apply_v(start, (const char *const[]){ __VA_ARGS__, NULL })
#define EXPECT(got, want) do { \
		char *_g = (got); \
		int _ok = strcmp(_g, want) == 0; \
		if (!_ok) \
			printf("# got  %s\n# want %s\n", _g, want); \
		free(_g); \
		IMG_ASSERT(_ok); \
	} while (0)

TEST(config_cmd_entrypoint_forms)
{
	EXPECT(APPLY("{}", "CMD [\"nginx\", \"-g\", \"daemon off;\"]"),
	       "{\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"]}");
	EXPECT(APPLY("{}", "cmd echo  hi"), "{\"Cmd\":[\"/bin/sh\",\"-c\",\"echo  hi\"]}");
	/* a non-string array is no exec form: it is a shell command */
	EXPECT(APPLY("{}", "CMD [1]"), "{\"Cmd\":[\"/bin/sh\",\"-c\",\"[1]\"]}");
	EXPECT(APPLY("{\"Shell\":[\"/bin/bash\",\"-xc\"]}", "ENTRYPOINT run.sh  "),
	       "{\"Entrypoint\":[\"/bin/bash\",\"-xc\",\"run.sh\"],\"Shell\":[\"/bin/bash\",\"-xc\"]}");
	/* ENTRYPOINT drops an inherited Cmd, but not one given earlier in the same series */
	EXPECT(APPLY("{\"Cmd\":[\"old\"]}", "ENTRYPOINT [\"/e\"]"), "{\"Entrypoint\":[\"/e\"]}");
	EXPECT(APPLY("{\"Cmd\":[\"old\"]}", "CMD [\"new\"]", "ENTRYPOINT [\"/e\"]"),
	       "{\"Cmd\":[\"new\"],\"Entrypoint\":[\"/e\"]}");
	EXPECT(APPLY("{}", "CMD"), "ERR: CMD requires at least one argument");
	EXPECT(APPLY("{}", "ENTRYPOINT   "), "ERR: ENTRYPOINT requires at least one argument");
}

TEST(config_env)
{
	EXPECT(APPLY("{}", "ENV A=1 B=\"two words\" C=x\\ y"),
	       "{\"Env\":[\"A=1\",\"B=two words\",\"C=x y\"]}");
	/* the old form: one name, the rest is the value */
	EXPECT(APPLY("{}", "ENV PATH /usr/bin  /bin"), "{\"Env\":[\"PATH=/usr/bin /bin\"]}");
	/* replacement keeps the position; $VAR and ${VAR} expand, not in single quotes */
	EXPECT(APPLY("{\"Env\":[\"PATH=/bin\",\"HOME=/root\"]}",
	             "ENV PATH=/opt:$PATH", "ENV D=${HOME}/d S='$HOME' U=$NOPE."),
	       "{\"Env\":[\"PATH=/opt:/bin\",\"HOME=/root\",\"D=/root/d\",\"S=$HOME\",\"U=.\"]}");
	EXPECT(APPLY("{}", "ENV"), "ERR: ENV requires at least one argument");
	EXPECT(APPLY("{}", "ENV A"), "ERR: ENV A: missing value");
	EXPECT(APPLY("{}", "ENV A=1 =2"), "ERR: ENV: '=2' is not NAME=VALUE");
	EXPECT(APPLY("{}", "ENV A=\"open"), "ERR: ENV: unbalanced quotes");
}

TEST(config_label_user)
{
	EXPECT(APPLY("{\"Labels\":{\"a\":\"0\"}}", "LABEL a=1 \"b c\"=\"d e\"", "label k v w"),
	       "{\"Labels\":{\"a\":\"1\",\"b c\":\"d e\",\"k\":\"v w\"}}");
	EXPECT(APPLY("{\"Env\":[\"U=app\"]}", "USER $U:1000"),
	       "{\"Env\":[\"U=app\"],\"User\":\"app:1000\"}");
	EXPECT(APPLY("{}", "USER a b"), "ERR: USER requires exactly one argument");
}

TEST(config_expose)
{
	EXPECT(APPLY("{}", "EXPOSE 80 53/UDP 8000-8002/tcp"),
	       "{\"ExposedPorts\":{\"53/udp\":{},\"80/tcp\":{},\"8000/tcp\":{},\"8001/tcp\":{},"
	       "\"8002/tcp\":{}}}");
	EXPECT(APPLY("{\"ExposedPorts\":{\"22/tcp\":{}}}", "EXPOSE 9/sctp"),
	       "{\"ExposedPorts\":{\"22/tcp\":{},\"9/sctp\":{}}}");
	EXPECT(APPLY("{}", "EXPOSE 0"), "ERR: EXPOSE: invalid port '0'");
	EXPECT(APPLY("{}", "EXPOSE 65536"), "ERR: EXPOSE: invalid port '65536'");
	EXPECT(APPLY("{}", "EXPOSE 90-80"), "ERR: EXPOSE: invalid port '90-80'");
	EXPECT(APPLY("{}", "EXPOSE 80/icmp"), "ERR: EXPOSE: invalid port '80/icmp'");
	EXPECT(APPLY("{}", "EXPOSE"), "ERR: EXPOSE requires at least one argument");
}

TEST(config_volume_workdir)
{
	EXPECT(APPLY("{}", "VOLUME [\"/data\", \"/logs\"]", "VOLUME /a /b"),
	       "{\"Volumes\":{\"/a\":{},\"/b\":{},\"/data\":{},\"/logs\":{}}}");
	EXPECT(APPLY("{}", "VOLUME [\"\"]"), "ERR: VOLUME specified can not be an empty string");
	EXPECT(APPLY("{}", "VOLUME"), "ERR: VOLUME requires at least one argument");
	/* WORKDIR: relative to the current one, cleaned lexically */
	EXPECT(APPLY("{}", "WORKDIR app"), "{\"WorkingDir\":\"/app\"}");
	EXPECT(APPLY("{\"WorkingDir\":\"/srv\"}", "WORKDIR web/./static//", "WORKDIR ../x"),
	       "{\"WorkingDir\":\"/srv/web/x\"}");
	EXPECT(APPLY("{\"WorkingDir\":\"/srv\"}", "WORKDIR /opt/../../usr"),
	       "{\"WorkingDir\":\"/usr\"}");
	EXPECT(APPLY("{\"Env\":[\"D=/w\"]}", "WORKDIR $D/sub"),
	       "{\"Env\":[\"D=/w\"],\"WorkingDir\":\"/w/sub\"}");
	EXPECT(APPLY("{}", "WORKDIR a b"), "ERR: WORKDIR requires exactly one argument");
}

TEST(config_stopsignal)
{
	EXPECT(APPLY("{}", "STOPSIGNAL SIGQUIT"), "{\"StopSignal\":\"SIGQUIT\"}");
	EXPECT(APPLY("{}", "STOPSIGNAL term"), "{\"StopSignal\":\"term\"}");
	EXPECT(APPLY("{}", "STOPSIGNAL 9"), "{\"StopSignal\":\"9\"}");
	EXPECT(APPLY("{}", "STOPSIGNAL SIGRTMIN+3"), "{\"StopSignal\":\"SIGRTMIN+3\"}");
	EXPECT(APPLY("{}", "STOPSIGNAL 65"), "ERR: STOPSIGNAL: invalid signal '65'");
	EXPECT(APPLY("{}", "STOPSIGNAL SIGNOPE"), "ERR: STOPSIGNAL: invalid signal 'SIGNOPE'");
	EXPECT(APPLY("{}", "STOPSIGNAL"), "ERR: STOPSIGNAL requires exactly one argument");
}

TEST(config_healthcheck)
{
	EXPECT(APPLY("{}", "HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 "
	                   "--start-period=0 CMD curl -f http://localhost/"),
	       "{\"Healthcheck\":{\"Interval\":30000000000,\"Retries\":3,\"StartPeriod\":0,"
	       "\"Test\":[\"CMD-SHELL\",\"curl -f http://localhost/\"],\"Timeout\":90000000000}}");
	EXPECT(APPLY("{}", "HEALTHCHECK CMD [\"/bin/check\", \"-q\"]"),
	       "{\"Healthcheck\":{\"Test\":[\"CMD\",\"/bin/check\",\"-q\"]}}");
	EXPECT(APPLY("{\"Healthcheck\":{\"Test\":[\"CMD\",\"x\"]}}", "HEALTHCHECK none"),
	       "{\"Healthcheck\":{\"Test\":[\"NONE\"]}}");
	EXPECT(APPLY("{}", "HEALTHCHECK NONE x"), "ERR: HEALTHCHECK NONE takes no arguments");
	EXPECT(APPLY("{}", "HEALTHCHECK --interval=1us CMD x"),
	       "ERR: HEALTHCHECK: invalid option '--interval=1us'");
	EXPECT(APPLY("{}", "HEALTHCHECK --bogus=1s CMD x"),
	       "ERR: HEALTHCHECK: invalid option '--bogus=1s'");
	EXPECT(APPLY("{}", "HEALTHCHECK curl x"), "ERR: HEALTHCHECK requires NONE or CMD");
	EXPECT(APPLY("{}", "HEALTHCHECK CMD "), "ERR: HEALTHCHECK requires NONE or CMD");
}

TEST(config_onbuild)
{
	EXPECT(APPLY("{\"OnBuild\":[\"RUN a\"]}", "ONBUILD ADD . /app  "),
	       "{\"OnBuild\":[\"RUN a\",\"ADD . /app\"]}");
	EXPECT(APPLY("{}", "ONBUILD from x"), "ERR: FROM isn't allowed as an ONBUILD trigger");
	EXPECT(APPLY("{}", "ONBUILD ONBUILD RUN x"),
	       "ERR: ONBUILD isn't allowed as an ONBUILD trigger");
	EXPECT(APPLY("{}", "ONBUILD"), "ERR: ONBUILD requires at least one argument");
}

TEST(config_refused)
{
	EXPECT(APPLY("{}", "RUN make"), "ERR: RUN is not a valid change instruction");
	EXPECT(APPLY("{}", "FROM scratch"), "ERR: FROM is not a valid change instruction");
	EXPECT(APPLY("{}", "   "), "ERR: empty change instruction");
	EXPECT(APPLY("{}", "VERYLONGINSTRUCTIONNAME x"),
	       "ERR: VERYLONGINSTRUCTIONNAME x is not a valid change instruction");
	/* the series stops at the first bad instruction */
	EXPECT(APPLY("{}", "USER a", "ADD x y", "USER b"),
	       "ERR: ADD is not a valid change instruction");
}
