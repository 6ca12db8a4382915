# cdt - the CODITECT Development Toolkit.  GNU make, no configure step.
#
#   make            build bin/cdt*
#   make check      install what is missing (make deps), build, run the tests
#   make bench      benchmarks (figures, never pass/fail)
#   make fuzz       libFuzzer targets (clang); FUZZ_SECONDS=30 make fuzz-smoke
#   make demo       the main job end to end, offline
#   make install    PREFIX=/usr/local DESTDIR=
#
# Knobs: DEVELOPER=1 (-Werror), SANITIZE=address,undefined, V=1, VALGRIND=1.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
PKG_CONFIG ?= pkg-config
CC ?= cc
CLANG ?= clang
PROVE ?= prove
VERSION := 0.1.0

CFLAGS ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wwrite-strings -Wvla -Wshadow \
	-Wno-unused-parameter -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
	-DCDT_VERSION='"$(VERSION)"'
ifeq ($(DEVELOPER),1)
override CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
override CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -U_FORTIFY_SOURCE
override LDFLAGS += -fsanitize=$(SANITIZE)
endif

PKGS := libcurl libgit2 yaml-0.1 openssl sqlite3 libargon2 libpq
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
override CFLAGS += $(PKG_CFLAGS)
# libjq and readline ship no .pc file on Debian 12.  --as-needed drops
# every shared library a tool does not reference, so each tool links only
# what it uses although the link line names them all.
LIBS := -Wl,--as-needed -ljq $(PKG_LIBS) -lreadline -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

TOOLS := cdt cdt-auth cdt-session cdt-chat cdt-files cdt-checkpoint cdt-route
PROGS := $(addprefix bin/,$(TOOLS))
LIB_SRCS := $(sort $(wildcard lib/*.c))
LIB_OBJS := $(LIB_SRCS:.c=.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/t-*.c))
UNIT_PROGS := $(UNIT_SRCS:.c=)
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_PROGS := $(HELPER_SRCS:.c=)

all: $(PROGS)

lib/%.o: lib/%.c
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

lib/libcdt.a: $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

bin/%: bin/%.c lib/libcdt.a
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) -Ilib -MMD -MP $(LDFLAGS) -o $@ $< lib/libcdt.a $(LIBS)

tests/unit/%: tests/unit/%.c lib/libcdt.a
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) -Ilib -MMD -MP $(LDFLAGS) -o $@ $< lib/libcdt.a $(LIBS)

tests/helpers/%: tests/helpers/%.c lib/libcdt.a
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) -Ilib -MMD -MP $(LDFLAGS) -o $@ $< lib/libcdt.a $(LIBS)

-include $(LIB_OBJS:.o=.d) $(PROGS:=.d) $(UNIT_PROGS:=.d) $(HELPER_PROGS:=.d)

deps:
	$(Q)sh tests/deps.sh

build-tests: all $(UNIT_PROGS) $(HELPER_PROGS)

# A SANITIZE build uses its own tree of objects: never mix them.
check: deps
	$(Q)$(MAKE) --no-print-directory build-tests
	$(Q)$(MAKE) --no-print-directory test

# libjq is built without frame pointers: the slow unwinder gives LSan the
# whole stack, so the one suppression (tests/lsan.supp) matches by name.
SAN_ENV := ASAN_OPTIONS=fast_unwind_on_malloc=0:detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# VALGRIND=1 runs every unit test and every tool the shell tests start
# under memcheck: a definite leak or an error fails the test.
VG := valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--suppressions=$(CURDIR)/tests/valgrind.supp

# The shell test files.  Under SANITIZE the ones that check packaging
# (every option in the man pages and the three shells' completions, no
# stub text) are left to the plain pass: they drive mandoc and shells,
# and the tools' part of them (--list-options) is t0000's.
# The longest files start first, so that with prove -j2 none of them is
# left running alone at the end.
TEST_SLOW := tests/t9000-examples.sh tests/t4010-files-hostile.sh \
	tests/t0030-fakeprov.sh tests/t0910-completions.sh tests/t3000-chat-send.sh
TEST_ALL := $(sort $(wildcard tests/t[0-9]*.sh))
TEST_SH := $(filter $(TEST_ALL),$(TEST_SLOW)) \
	$(filter-out $(TEST_SLOW),$(TEST_ALL))
ifneq ($(SANITIZE),)
TEST_SH := $(filter-out tests/t0900-man.sh tests/t0910-completions.sh \
	tests/t9010-no-stubs.sh,$(TEST_SH))
endif

ifeq ($(VALGRIND),1)
test:
	$(Q)CDT_SRC=$(CURDIR) $(PROVE) $(PROVE_FLAGS) --exec '$(VG)' \
		$(UNIT_PROGS)
	$(Q)CDT_VALGRIND='$(VG)' CDT_SRC=$(CURDIR) $(PROVE) $(PROVE_FLAGS) \
		$(TEST_SH)
else
test:
	$(Q)$(SAN_ENV) CDT_SRC=$(CURDIR) $(PROVE) $(PROVE_FLAGS) \
		$(UNIT_PROGS) $(TEST_SH)
endif

# The store-touching tests again on a throwaway PostgreSQL 15 cluster, as
# the application role (tests/pg-pass.sh; needs root for the cluster user).
test-pg: build-tests
	$(Q)$(SAN_ENV) bash tests/pg-pass.sh

clean:
	rm -f lib/*.o lib/*.d lib/libcdt.a $(PROGS) bin/*.d \
		$(UNIT_PROGS) tests/unit/*.d $(HELPER_PROGS) tests/helpers/*.d
	rm -rf tests/fuzz/bin tests/fuzz/obj tests/bench/out

.PHONY: all deps build-tests check test test-pg clean install uninstall bench fuzz \
	fuzz-smoke demo

# Fuzzing: tests/fuzz/fuzz-NAME.c defines LLVMFuzzerTestOneInput; seeds in
# tests/fuzz/corpus/NAME/.  Built with clang's libFuzzer and ASan+UBSan.
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_PROGS := $(patsubst tests/fuzz/%.c,tests/fuzz/bin/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 30
FUZZ_BASE := -g -O1 -std=c11 -DCDT_VERSION='"$(VERSION)"' -DCDT_FUZZ \
	$(PKG_CFLAGS) -Ilib
# The library is compiled once, instrumented for coverage and ASan+UBSan
# (fuzzer-no-link), into its own archive; each target links against it.
FUZZ_LIB_OBJS := $(patsubst lib/%.c,tests/fuzz/obj/%.o,$(LIB_SRCS))

tests/fuzz/obj/%.o: lib/%.c
	@mkdir -p tests/fuzz/obj
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(CLANG) $(FUZZ_BASE) -fsanitize=fuzzer-no-link,address,undefined \
		-MMD -MP -c -o $@ $<

tests/fuzz/obj/libcdt.a: $(FUZZ_LIB_OBJS)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

-include $(FUZZ_LIB_OBJS:.o=.d)

tests/fuzz/bin/%: tests/fuzz/%.c tests/fuzz/obj/libcdt.a
	@mkdir -p tests/fuzz/bin
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CLANG) $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined -o $@ $< \
		tests/fuzz/obj/libcdt.a $(LIBS)

fuzz: $(FUZZ_PROGS)

fuzz-smoke: fuzz
	$(Q)for f in $(FUZZ_PROGS); do \
		n=$${f##*/fuzz-}; mkdir -p tests/fuzz/bin/corpus-$$n; \
		echo "fuzz $$n for $(FUZZ_SECONDS)s"; \
		$(SAN_ENV) $$f -max_total_time=$(FUZZ_SECONDS) \
		    -print_final_stats=0 \
		    -detect_leaks=1 tests/fuzz/bin/corpus-$$n \
		    tests/fuzz/corpus/$$n 2>tests/fuzz/bin/$$n.log \
		|| { tail -40 tests/fuzz/bin/$$n.log; exit 1; }; \
		grep -E '^#[0-9]+.*DONE' tests/fuzz/bin/$$n.log | tail -1; \
	done

MANPAGES := $(wildcard man/*.1 man/*.7)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0755 $(PROGS) $(DESTDIR)$(BINDIR)
	for p in $(filter %.1,$(MANPAGES)); do \
		install -m 0644 $$p $(DESTDIR)$(MANDIR)/man1; done
	for p in $(filter %.7,$(MANPAGES)); do \
		install -m 0644 $$p $(DESTDIR)$(MANDIR)/man7; done
	install -m 0644 completions/bash/cdt $(DESTDIR)$(BASHCOMPDIR)/cdt
	for t in $(filter-out cdt,$(TOOLS)); do \
		ln -sf cdt $(DESTDIR)$(BASHCOMPDIR)/$$t; done
	install -m 0644 completions/zsh/_cdt $(DESTDIR)$(ZSHCOMPDIR)/_cdt
	install -m 0644 completions/fish/*.fish $(DESTDIR)$(FISHCOMPDIR)

uninstall:
	for t in $(TOOLS); do rm -f $(DESTDIR)$(BINDIR)/$$t \
		$(DESTDIR)$(BASHCOMPDIR)/$$t $(DESTDIR)$(FISHCOMPDIR)/$$t.fish; \
		done
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_cdt
	for p in $(notdir $(filter %.1,$(MANPAGES))); do \
		rm -f $(DESTDIR)$(MANDIR)/man1/$$p; done
	for p in $(notdir $(filter %.7,$(MANPAGES))); do \
		rm -f $(DESTDIR)$(MANDIR)/man7/$$p; done

BENCHES := startup auth session chat files checkpoint route store

# Figures beside baselines measured in the same run, never pass/fail;
# writes tests/bench/RESULTS.md.  Some: make bench BENCHES=route (written
# to tests/bench/out/RESULTS.md).
bench: all build-tests
	$(Q)BENCHES="$(BENCHES)" bash tests/bench/results


demo: deps all
	$(Q)sh examples/demo.sh
