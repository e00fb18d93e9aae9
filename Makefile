# img: daemonless image archive tools. GNU make.
.SUFFIXES:
.DELETE_ON_ERROR:

PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# Debian's zsh reads vendor-completions; other systems use site-functions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)

# Objects and programs go to $(BUILD); several builds can live side by side.
BUILD ?= build
CC    ?= cc
PKG_CONFIG ?= pkg-config
LIBS_PC = libarchive libzstd liblzma zlib libisal jansson libcrypto libcurl

WARN = -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wpointer-arith -Wwrite-strings -Wformat=2 -Wvla -Wno-format-nonliteral
ifeq ($(DEVELOPER),1)
WARN += -Werror
endif
ifneq ($(SANITIZE),)
SANFLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
CFLAGS ?= -O2 -g
IMG_CPPFLAGS = -Icommon -D_GNU_SOURCE $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
IMG_CFLAGS   = $(WARN) $(SANFLAGS) -MMD -MP
IMG_LDLIBS   = $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null) -lpthread

ifneq ($(V),1)
Q = @
QCC = @echo "  CC      $@";
QLD = @echo "  LD      $@";
QAR = @echo "  AR      $@";
endif

# cli.c prints and exits for the programs' main(): linked into each program, not libimg.a
COMMON_SRC = $(filter-out common/cli.c,$(sort $(wildcard common/*.c)))
COMMON_OBJ = $(COMMON_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ    = $(BUILD)/common/cli.o
TOOL_SRC   = $(sort $(wildcard tools/img-*.c))
TOOLS      = $(TOOL_SRC:tools/%.c=%)
TOOL_BIN   = $(TOOLS:%=$(BUILD)/%)
UNIT_SRC   = $(sort $(wildcard tests/unit/t-*.c))
UNIT_OBJ   = $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/unit/run.o
MAN_SCD    = $(sort $(wildcard man/*.scd))
MAN_OUT    = $(MAN_SCD:%.scd=%)

all: $(TOOL_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(QCC)$(CC) $(IMG_CPPFLAGS) $(CPPFLAGS) $(IMG_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libimg.a: $(COMMON_OBJ)
	$(QAR)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/img-%: $(BUILD)/tools/img-%.o $(CLI_OBJ) $(BUILD)/libimg.a
	$(QLD)$(CC) $(SANFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(IMG_LDLIBS) $(LDLIBS)

# Unit tests: every TEST(name) in tests/unit/t-*.c, listed by grep (no registry by hand).
# Made anew each run (cheap) and replaced only when it changes, so that a test file
# removed leaves no stale entry behind.
$(BUILD)/tests/unit/list.h: $(UNIT_SRC) FORCE
	@mkdir -p $(@D)
	$(Q)grep -h '^TEST(' $(UNIT_SRC) | sed 's/^TEST(\([a-zA-Z0-9_]*\)).*/DEFINE(\1)/' > $@.tmp && \
		{ cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@; }
FORCE:
$(BUILD)/tests/unit/run.o: IMG_CPPFLAGS += -I$(BUILD)/tests/unit -DIMG_TEST_FIXTURES='"$(CURDIR)/tests/fixtures"'
$(BUILD)/tests/unit/run.o: $(BUILD)/tests/unit/list.h
$(BUILD)/unit: $(UNIT_OBJ) $(CLI_OBJ) $(BUILD)/libimg.a
	$(QLD)$(CC) $(SANFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(IMG_LDLIBS) $(LDLIBS)

# Failure injection for tests: LD_PRELOAD=$(BUILD)/inject.so (see tests/lib/inject.c).
$(BUILD)/inject.so: tests/lib/inject.c
	@mkdir -p $(@D)
	$(QCC)$(CC) -D_GNU_SOURCE -shared -fPIC -O2 -o $@ $< -ldl

# Fuzz targets (tests/fuzz/fuzz-*.c): in the normal build each is linked with the plain
# replay driver, which make check runs on the kept findings and the seeds; make fuzz
# builds them again with clang and libFuzzer in build/fuzz and runs each FUZZ_SECONDS.
FUZZ_TARGETS = ref json load arcimg layer
FUZZ_BIN     = $(FUZZ_TARGETS:%=$(BUILD)/fuzz-%)
FUZZ_OBJ     = $(BUILD)/tests/fuzz/fuzz.o $(BUILD)/tests/fuzz/img-load.o
ifeq ($(LIBFUZZER),1)
IMG_CFLAGS  += -fsanitize=fuzzer-no-link
FUZZ_MAIN    = -fsanitize=fuzzer
else
FUZZ_MAIN    = $(BUILD)/tests/fuzz/replay.o
endif
# img-load's main, callable: it runs many times in one process
$(BUILD)/tests/fuzz/img-load.o: tools/img-load.c
	@mkdir -p $(@D)
	$(QCC)$(CC) $(IMG_CPPFLAGS) $(CPPFLAGS) -Dmain=img_load_main \
		-Dimg_io_close_stdout=fuzz_close_stdout -include tests/fuzz/fuzz.h \
		$(IMG_CFLAGS) $(CFLAGS) -c -o $@ $<
$(BUILD)/tests/fuzz/%.o: IMG_CPPFLAGS += -Itests/fuzz
$(BUILD)/fuzz-%: $(BUILD)/tests/fuzz/fuzz-%.o $(FUZZ_OBJ) $(filter %.o,$(FUZZ_MAIN)) $(CLI_OBJ) $(BUILD)/libimg.a
	$(QLD)$(CC) $(SANFLAGS) $(CFLAGS) $(LDFLAGS) $(filter -f%,$(FUZZ_MAIN)) -o $@ $(filter-out -f%,$^) \
		$(IMG_LDLIBS) $(LDLIBS)
$(BUILD)/fuzz-seeds/stamp: tests/fuzz/mkseeds.py tests/fixtures/archlib.py tests/fixtures/hostile.py \
                           tests/fixtures/load-mkarchive.py
	$(Q)rm -rf $(@D) && python3 tests/fuzz/mkseeds.py tests/fixtures/peers $(@D) && touch $@
fuzz-bin: $(FUZZ_BIN)
all: fuzz-bin

FUZZ_SECONDS ?= 60
# Bombs refused past 64 MiB instead of 1 GiB (layer.h): the same code, each input quick.
FUZZ_CFLAGS = -O1 -g -DIMG_LAYER_BOMB_MIN=67108864ULL
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang CFLAGS='$(FUZZ_CFLAGS)' \
		SANITIZE=address,undefined LIBFUZZER=1 fuzz-bin build/fuzz/fuzz-seeds/stamp
	@sh tests/fuzz/fuzz.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ---- set-up ----
DEB_PKGS = libarchive-dev zlib1g-dev libisal-dev liblzma-dev libzstd-dev libssl-dev \
           libjansson-dev pkg-config bats jq skopeo umoci podman scdoc isal zstd \
           attr time mandoc runc buildah libcurl4-openssl-dev docker-registry apache2-utils \
           clang libclang-rt-14-dev
deps:
	@sh .ci/deps $(DEB_PKGS)

# ---- tests ----
check: deps
	@$(MAKE) --no-print-directory all $(BUILD)/unit $(if $(wildcard tests/lib/inject.c),$(BUILD)/inject.so)
	@BUILD=$(BUILD) sh tests/run.sh

check-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=address,undefined check

# Crash trials: SIGKILL the store writers at random moments (tests/crash.sh; make check
# runs 20 of them), then before each fsync, rename, link and unlink of each.
# CRASH_TRIALS=N, CRASH_SEED=N to replay, CRASH_POINTS=0 for the random trials only.
CRASH_TRIALS ?= 100
CRASH_POINTS ?= 1
check-crash: deps
	@$(MAKE) --no-print-directory all $(BUILD)/inject.so
	@BUILD=$(BUILD) CRASH_TRIALS=$(CRASH_TRIALS) CRASH_POINTS=$(CRASH_POINTS) bash tests/crash.sh

# The threaded code under ThreadSanitizer: the unit tests of the modules that run threads
# (ring, pool, layer's bzip2 reader, the layer reader's decompressor and hasher, tree's
# layer reader and feed, mklayer's compression thread, the archive reader's pipeline and
# the layers read as an archive streams) and the programs that use them (img-pull and
# img-push: blobs written and sent on several threads).
TSAN_UNIT  = $(shell sed -n 's/^TEST(\([a-zA-Z0-9_]*\)).*/\1/p' tests/unit/t-ring.c tests/unit/t-pool.c \
             tests/unit/t-layer.c tests/unit/t-tree.c tests/unit/t-mklayer.c tests/unit/t-arcread.c \
             tests/unit/t-lread.c tests/unit/t-arcimg.c)
TSAN_TOOLS = img-load img-save img-import img-gc img-build img-layers img-diff img-pull img-push
check-tsan: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan SANITIZE=thread all build-tsan/unit
	@BUILD=build-tsan UNIT_ARGS="$(TSAN_UNIT)" TESTS="$(TSAN_TOOLS)" sh tests/run.sh

check-man: $(MAN_OUT:%=$(BUILD)/%)
	@for f in $(MAN_OUT); do cmp -s $$f $(BUILD)/$$f || { echo "stale man page: $$f (run make man)"; exit 1; }; done
	@! command -v mandoc >/dev/null || mandoc -Tlint -Werror $(MAN_OUT)

# The date man pages carry: the version's, not the day they were generated (so that
# check-man compares like with like on any day).
MAN_EPOCH = 1796083200
$(BUILD)/man/%: man/%.scd
	@mkdir -p $(@D)
	$(Q)SOURCE_DATE_EPOCH=$(MAN_EPOCH) scdoc < $< > $@

man: $(MAN_OUT)
man/%: man/%.scd
	SOURCE_DATE_EPOCH=$(MAN_EPOCH) scdoc < $< > $@

# Completions are generated from each tool's --list-options (never edited by hand).
completions: all
	sh completions/gen.sh $(BUILD) completions

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash tests/demo.sh

bench: deps all
	@BUILD=$(BUILD) QUICK=$(QUICK) BENCH_DIR=$(BENCH_DIR) bash bench/bench.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 755 $(TOOL_BIN) $(DESTDIR)$(BINDIR)
	install -m 644 $(filter %.1,$(MAN_OUT)) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(filter %.7,$(MAN_OUT)) $(DESTDIR)$(MANDIR)/man7
	install -m 644 completions/img.bash $(DESTDIR)$(BASHCOMPDIR)/img-save
	for t in $(filter-out img-save,$(TOOLS)); do ln -sf img-save $(DESTDIR)$(BASHCOMPDIR)/$$t; done
	install -m 644 completions/_img $(DESTDIR)$(ZSHCOMPDIR)/_img

uninstall:
	for t in $(TOOLS); do rm -f $(DESTDIR)$(BINDIR)/$$t $(DESTDIR)$(MANDIR)/man1/$$t.1 $(DESTDIR)$(BASHCOMPDIR)/$$t; done
	rm -f $(DESTDIR)$(MANDIR)/man7/img.7 $(DESTDIR)$(ZSHCOMPDIR)/_img

clean:
	rm -rf build build-asan build-tsan $(BUILD)

.PHONY: FORCE all deps check check-asan check-crash check-tsan check-man man completions demo bench \
        install uninstall clean fuzz fuzz-bin
.SECONDARY: $(TOOL_SRC:%.c=$(BUILD)/%.o)
.SECONDARY: $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/fuzz-%.o) $(FUZZ_OBJ) $(BUILD)/tests/fuzz/replay.o

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
