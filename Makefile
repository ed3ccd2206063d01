# backfilld -- plain Makefile (GNU make).  `make help` lists the targets.

VERSION := 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
PLUGINDIR ?= /usr/lib/backfill
SYSCONFDIR ?= /etc

CC ?= cc
V ?= 0
ifeq ($(V),0)
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q :=
say :=
endif
BUILD ?= build
PKG_CONFIG ?= pkg-config

WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wcast-qual -Wundef -Wvla
ifeq ($(WERROR),1)
WARN += -Werror
endif

OPT ?= -O2 -g
SANITIZE ?=
ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
OPT := -O1 -g
endif

DEPS := libpq libevent_core libevent_extra jansson inih
DEPS_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(DEPS) 2>/dev/null)
DEPS_LIBS := $(shell $(PKG_CONFIG) --libs $(DEPS) 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

CPPFLAGS_ALL := -D_GNU_SOURCE -Iplugin-api -Idaemon \
	-DBACKFILLD_VERSION='"$(VERSION)"' \
	-DBACKFILLD_PLUGIN_DIR='"$(PLUGINDIR)"' \
	-DBACKFILLD_CONFIG_PATH='"$(SYSCONFDIR)/backfill/backfilld.ini"' \
	-DBACKFILLD_CRON_PATH='"$(SYSCONFDIR)/backfill/crontab"' \
	-DBACKFILLD_SQL_DIR='"$(PREFIX)/share/backfill/sql"'
CFLAGS_ALL := $(WARN) $(OPT) $(SANFLAGS) -MMD -MP $(CFLAGS)
LDFLAGS_ALL := $(SANFLAGS) $(LDFLAGS)

DAEMON_SRCS := $(wildcard daemon/*.c)
# plus the plugin rules the daemon shares with the stub library (plugin-api/host/)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/plugin-api/host/host_rules.o
SQL_FILES := $(sort $(wildcard sql/[0-9]*.sql))
LIB_OBJS := $(filter-out $(BUILD)/daemon/main.o,$(DAEMON_OBJS)) $(BUILD)/sql_embedded.o

# Plugins: plugins/NAME.c or plugins/NAME/*.c -> $(BUILD)/plugins/NAME.so
PLUGIN_FLAT := $(basename $(notdir $(wildcard plugins/*.c)))
PLUGIN_DIRS := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c))))
PLUGINS := $(sort $(PLUGIN_FLAT) $(PLUGIN_DIRS))
PLUGIN_SOS := $(PLUGINS:%=$(BUILD)/plugins/%.so)
TEST_PLUGIN_SOS := $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))
PLUGIN_CFLAGS := -fPIC -fvisibility=hidden
PLUGIN_LDFLAGS := -shared -Wl,-z,defs

UNIT_SRCS := $(wildcard tests/check_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/%.c=$(BUILD)/tests/%)

.PHONY: all help check unit integration demo clean format format-check install uninstall
all: $(BUILD)/backfilld $(BUILD)/backfillctl $(PLUGIN_SOS) $(TEST_PLUGIN_SOS)

help:
	@echo "make            build backfilld, backfillctl, plugins and test plugins into $(BUILD)/"
	@echo "make demo       install deps, start a private PostgreSQL, run the demo"
	@echo "make check      install deps, run unit and integration tests"
	@echo "make unit       unit tests only (no database)"
	@echo "make SANITIZE=address,undefined check   the same under sanitizers"
	@echo "make coverage   the whole suite on a gcov build (build-cov/), line coverage per directory"
	@echo "make fuzz       libFuzzer harnesses of fuzz/, FUZZ_SECONDS (60) each"

$(BUILD)/daemon/%.o: daemon/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS_ALL) $(DEPS_CFLAGS) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/plugin-api/host/%.o: plugin-api/host/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/sql_embedded.c: $(SQL_FILES) scripts/embed-sql
	@mkdir -p $(dir $@)
	$(call say,EMBED,$@)scripts/embed-sql $(SQL_FILES) > $@

$(BUILD)/sql_embedded.o: $(BUILD)/sql_embedded.c
	$(call say,CC,$<)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libbackfilld.a: $(LIB_OBJS)
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(BUILD)/backfilld: $(BUILD)/daemon/main.o $(BUILD)/libbackfilld.a
	$(call say,LINK,$@)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(DEPS_LIBS) -ldl -lpthread -lm

# Plugin objects are built only against plugin-api/.
$(BUILD)/plugins/%.pic.o: plugins/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) -D_GNU_SOURCE -Iplugin-api -Iplugins $(PLUGIN_CFLAGS) $(CFLAGS_ALL) -c $< -o $@

define plugin_rule
$(BUILD)/plugins/$(1).so: $(patsubst %.c,$(BUILD)/%.pic.o,$(wildcard plugins/$(1).c plugins/$(1)/*.c))
	$$(call say,LINK,$$@)$$(CC) $$(LDFLAGS_ALL) $(PLUGIN_LDFLAGS) -o $$@ $$^
endef
$(foreach p,$(PLUGINS),$(eval $(call plugin_rule,$(p))))

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) -D_GNU_SOURCE -Iplugin-api $(PLUGIN_CFLAGS) $(CFLAGS_ALL) $(PLUGIN_LDFLAGS) $(LDFLAGS_ALL) -o $@ $<

# Unit tests: tests/check_X.c links the daemon library (and, for plugin
# tests, the plugin's objects named in tests/check_X.objs if present).
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS_ALL) -Iplugins $(DEPS_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS_ALL) -Wno-missing-prototypes -c $< -o $@

PLUGIN_PIC_OBJS = $(patsubst %.c,$(BUILD)/%.pic.o,$(filter-out %/plugin.c,$(wildcard plugins/*/*.c)))

$(BUILD)/tests/check_%: $(BUILD)/tests/check_%.o $(BUILD)/libbackfilld.a $(PLUGIN_PIC_OBJS)
	$(call say,LINK,$@)$(CC) $(LDFLAGS_ALL) -o $@ $< $(PLUGIN_PIC_OBJS) $(BUILD)/libbackfilld.a $(CHECK_LIBS) $(DEPS_LIBS) -ldl -lpthread -lm

unit: $(UNIT_BINS) all
	@BF_BUILD=$(abspath $(BUILD)) tests/run-unit $(UNIT_BINS)

integration: all
	@BUILD=$(BUILD) tests/run-integration

# The whole suite, as CI runs it: installs what is missing, then unit and
# integration tests against a private PostgreSQL that the run starts.
check:
	@scripts/install-deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS) bench-bins
	@BUILD=$(BUILD) tests/run-all $(UNIT_BINS)

demo:
	@scripts/install-deps
	@$(MAKE) --no-print-directory all
	@scripts/demo

format:
	clang-format -i daemon/*.[ch] cli/*.[ch] plugins/*.c plugins/*/*.[ch] plugin-api/backfill/*.h tests/*.c tests/plugins/*.c

format-check:
	clang-format --dry-run --Werror daemon/*.[ch] cli/*.[ch] plugins/*.c plugins/*/*.[ch] plugin-api/backfill/*.h tests/*.c tests/plugins/*.c

clean:
	rm -rf $(BUILD)

# ---- backfillctl: the operator's CLI (cli/; libpq and jansson, no daemon code)
CLI_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cli/*.c))
CLI_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpq jansson 2>/dev/null)
CLI_LIBS := $(shell $(PKG_CONFIG) --libs libpq jansson 2>/dev/null)

$(BUILD)/cli/%.o: cli/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) -D_GNU_SOURCE -Icli -DBACKFILLD_VERSION='"$(VERSION)"' $(CLI_CFLAGS) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/backfillctl: $(CLI_OBJS)
	$(call say,LINK,$@)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CLI_LIBS)

# ---- install ---------------------------------------------------------------
SBINDIR ?= $(PREFIX)/sbin
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(PREFIX)/share/pkgconfig
SQLDIR ?= $(PREFIX)/share/backfill/sql
UNITDIR ?= $(PREFIX)/lib/systemd/system
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
MAN_PAGES := $(BUILD)/man/backfilld.8 $(BUILD)/man/backfilld.ini.5 $(BUILD)/man/backfillctl.1

# The files below name installed paths: remade whenever a path variable
# changes (make install PREFIX=/usr after a PREFIX=/usr/local build).
INSTALL_PATHS := $(PREFIX) $(SBINDIR) $(BINDIR) $(SQLDIR) $(UNITDIR) $(SYSUSERSDIR) $(SYSCONFDIR) $(PLUGINDIR) $(VERSION)
$(BUILD)/install-paths: FORCE
	@mkdir -p $(dir $@)
	@echo '$(INSTALL_PATHS)' | cmp -s - $@ || echo '$(INSTALL_PATHS)' > $@
.PHONY: FORCE
FORCE:

# man/ names the default paths; the installed pages name the installed ones
$(BUILD)/man/%: man/% Makefile $(BUILD)/install-paths
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)sed -e 's|/usr/local/sbin/backfilld|$(SBINDIR)/backfilld|g' -e 's|/usr/local/bin/backfillctl|$(BINDIR)/backfillctl|g' \
		-e 's|/usr/local/share/backfill/sql|$(SQLDIR)|g' -e 's|/usr/local/lib/systemd/system|$(UNITDIR)|g' \
		-e 's|/usr/local/lib/sysusers.d|$(SYSUSERSDIR)|g' -e 's|/etc/backfill|$(SYSCONFDIR)/backfill|g' \
		-e 's|/usr/lib/backfill|$(PLUGINDIR)|g' $< > $@

$(BUILD)/backfill-plugin.pc: plugin-api/backfill-plugin.pc.in Makefile $(BUILD)/install-paths
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@PLUGINDIR@|$(PLUGINDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# the daemon's built-in defaults (plugin_dir, the config and crontab paths,
# the SQL directory in messages) are install paths too
$(BUILD)/daemon/config.o $(BUILD)/daemon/main.o: $(BUILD)/install-paths

# the sample configuration names the installed plugin and crontab paths
$(BUILD)/backfilld.ini: config/backfilld.ini Makefile $(BUILD)/install-paths
	@mkdir -p $(dir $@)
	sed -e 's|^plugin_dir = /usr/lib/backfill$$|plugin_dir = $(PLUGINDIR)|' \
		-e 's|^cron_file = /etc/backfill/crontab$$|cron_file = $(SYSCONFDIR)/backfill/crontab|' $< > $@

$(BUILD)/backfilld.service: systemd/backfilld.service Makefile $(BUILD)/install-paths
	@mkdir -p $(dir $@)
	sed -e 's|/usr/local/sbin/backfilld|$(SBINDIR)/backfilld|' -e 's|/etc/backfill|$(SYSCONFDIR)/backfill|g' -e 's|/usr/lib/backfill|$(PLUGINDIR)|' $< > $@

install: $(BUILD)/backfilld $(BUILD)/backfillctl $(PLUGIN_SOS) $(BUILD)/backfill-plugin.pc $(BUILD)/backfilld.service $(MAN_PAGES) $(BUILD)/backfilld.ini
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(INCLUDEDIR)/backfill \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(SQLDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/backfill
	install -m 755 $(BUILD)/backfilld $(DESTDIR)$(SBINDIR)/backfilld
	install -m 644 $(PLUGIN_SOS) $(DESTDIR)$(PLUGINDIR)/
	install -m 644 plugin-api/backfill/plugin.h $(DESTDIR)$(INCLUDEDIR)/backfill/plugin.h
	install -m 644 $(BUILD)/backfill-plugin.pc $(DESTDIR)$(PKGCONFIGDIR)/backfill-plugin.pc
	install -m 644 $(SQL_FILES) $(DESTDIR)$(SQLDIR)/
	install -m 644 $(BUILD)/backfilld.service $(DESTDIR)$(UNITDIR)/backfilld.service
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSUSERSDIR)
	install -m 755 $(BUILD)/backfillctl $(DESTDIR)$(BINDIR)/backfillctl
	install -m 644 $(BUILD)/man/backfillctl.1 $(DESTDIR)$(MANDIR)/man1/backfillctl.1
	install -m 644 $(BUILD)/man/backfilld.ini.5 $(DESTDIR)$(MANDIR)/man5/backfilld.ini.5
	install -m 644 $(BUILD)/man/backfilld.8 $(DESTDIR)$(MANDIR)/man8/backfilld.8
	install -m 644 systemd/backfill.sysusers $(DESTDIR)$(SYSUSERSDIR)/backfill.conf
	@# never overwrite an operator's configuration
	test -e $(DESTDIR)$(SYSCONFDIR)/backfill/backfilld.ini || \
		install -m 644 $(BUILD)/backfilld.ini $(DESTDIR)$(SYSCONFDIR)/backfill/backfilld.ini

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/backfilld $(DESTDIR)$(INCLUDEDIR)/backfill/plugin.h \
		$(DESTDIR)$(PKGCONFIGDIR)/backfill-plugin.pc $(DESTDIR)$(UNITDIR)/backfilld.service
	rm -f $(addprefix $(DESTDIR)$(PLUGINDIR)/,$(notdir $(PLUGIN_SOS)))
	rm -f $(DESTDIR)$(BINDIR)/backfillctl $(DESTDIR)$(MANDIR)/man1/backfillctl.1 \
		$(DESTDIR)$(MANDIR)/man5/backfilld.ini.5 $(DESTDIR)$(MANDIR)/man8/backfilld.8 \
		$(DESTDIR)$(SYSUSERSDIR)/backfill.conf
	rm -f $(addprefix $(DESTDIR)$(SQLDIR)/,$(notdir $(SQL_FILES)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/backfill $(DESTDIR)$(SQLDIR) $(DESTDIR)$(PLUGINDIR) 2>/dev/null
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/backfill/backfilld.ini (remove it by hand if you want)"

# ---- plugin stub library: a fake host for unit-testing plugin handlers ----
# (plugin-api/stub/; docs/PLUGINS.md).  Built against plugin-api/ only;
# installed with its header and backfill-plugin-stub.pc by `make install`.
LIBDIR ?= $(PREFIX)/lib
INSTALL_PATHS += $(LIBDIR)
STUB_LIB := $(BUILD)/libbackfill-plugin-stub.a
# plain flags whatever the build (no sanitizer, no coverage): plugin authors
# link the installed library into their own tests, built their own way
STUB_CFLAGS := $(WARN) -O2 -g -MMD -MP
STUB_HEADER := plugin-api/stub/backfill/plugin_stub.h
all: $(STUB_LIB)

STUB_COMPILE = $(CC) -D_GNU_SOURCE -Iplugin-api -Iplugin-api/stub -fPIC $(STUB_CFLAGS) -c $< -o $@

$(BUILD)/plugin-api/stub/%.o: plugin-api/stub/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(STUB_COMPILE)

# the plugin rules shared with the daemon, compiled again with the stub's
# flags: the library carries its own copy
$(BUILD)/plugin-api/stub/host_rules.o: plugin-api/host/host_rules.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(STUB_COMPILE)

$(STUB_LIB): $(BUILD)/plugin-api/stub/plugin_stub.o $(BUILD)/plugin-api/stub/host_rules.o
	@rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(BUILD)/backfill-plugin-stub.pc: plugin-api/backfill-plugin-stub.pc.in Makefile $(BUILD)/install-paths
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# check_stub runs plugins through both the stub and the daemon's loader
$(BUILD)/tests/check_stub.o: CPPFLAGS_ALL += -Iplugin-api/stub
$(BUILD)/tests/check_stub: $(BUILD)/tests/check_stub.o $(STUB_LIB) $(BUILD)/libbackfilld.a
	$(call say,LINK,$@)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CHECK_LIBS) $(DEPS_LIBS) -ldl -lpthread -lm

.PHONY: install-stub uninstall-stub
install: install-stub
install-stub: $(STUB_LIB) $(BUILD)/backfill-plugin-stub.pc
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/backfill $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(STUB_LIB) $(DESTDIR)$(LIBDIR)/libbackfill-plugin-stub.a
	install -m 644 $(STUB_HEADER) $(DESTDIR)$(INCLUDEDIR)/backfill/plugin_stub.h
	install -m 644 $(BUILD)/backfill-plugin-stub.pc $(DESTDIR)$(PKGCONFIGDIR)/backfill-plugin-stub.pc

uninstall: uninstall-stub
uninstall-stub:
	rm -f $(DESTDIR)$(LIBDIR)/libbackfill-plugin-stub.a $(DESTDIR)$(INCLUDEDIR)/backfill/plugin_stub.h \
		$(DESTDIR)$(PKGCONFIGDIR)/backfill-plugin-stub.pc

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- benchmarks (bench/README.md) -------------------------------------------
# make bench [BENCH_N=100000] [BENCH_ARGS='--url URL --rounds R']
# make bench-compare [BENCH_N=100000] [BENCH_ROUNDS=3]
# make bench-smoke      N=2000, one round, own throwaway cluster: checks that
#                       every result line is printed (never a speed)
# make bench-scale [N_SMALL=100000] [N_LARGE=1000000] [N_NOISE=100000]
#                  [BENCH_ARGS='--url URL --rounds R']: big backlog, rows not
#                       to claim, two daemons (bench/backfilld-scale)
BENCH_N ?= 100000
BENCH_ROUNDS ?= 3
BENCH_ARGS ?=
N_SMALL ?= 100000
N_LARGE ?= 1000000
N_NOISE ?= 100000
BENCH_PQ_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null)
BENCH_PQ_LIBS := $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null)
BENCH_BINS := $(BUILD)/bench/benchctl $(BUILD)/bench/latency $(BUILD)/bench/plugins/stamp.so

$(BUILD)/bench/benchctl: bench/benchctl.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) -D_GNU_SOURCE $(BENCH_PQ_CFLAGS) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(BENCH_PQ_LIBS)

$(BUILD)/bench/latency: bench/latency.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) -D_GNU_SOURCE $(BENCH_PQ_CFLAGS) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(BENCH_PQ_LIBS) -lm

# the bench plugin is built against plugin-api/ only, like every plugin
$(BUILD)/bench/plugins/stamp.so: bench/plugins/stamp.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) -D_GNU_SOURCE -Iplugin-api $(PLUGIN_CFLAGS) $(CFLAGS_ALL) $(PLUGIN_LDFLAGS) $(LDFLAGS_ALL) -o $@ $<

.PHONY: bench bench-compare bench-smoke bench-scale bench-bins
bench-bins: $(BUILD)/backfilld $(BUILD)/plugins/noop.so $(BENCH_BINS)

bench: bench-bins
	@BUILD=$(BUILD) bench/backfilld-bench $(BENCH_N) $(BENCH_ARGS)

bench-compare: bench-bins
	@BUILD=$(BUILD) bench/compare $(BENCH_N) --rounds $(BENCH_ROUNDS) $(BENCH_ARGS)

bench-smoke: bench-bins
	@BUILD=$(BUILD) bench/backfilld-bench 2000 --rounds 1 --idle-seconds 2 --private-cluster --smoke

bench-scale: bench-bins
	@BUILD=$(BUILD) bench/backfilld-scale --small $(N_SMALL) --large $(N_LARGE) --noise $(N_NOISE) $(BENCH_ARGS)

# ---- coverage (gcovr): the whole suite on a gcov build ----------------------
# make coverage [COV_BUILD=build-cov] [TESTS=...]: builds into COV_BUILD with
# --coverage -O0 (counters updated atomically: handlers run on threads, and
# racing increments left negative branch counts gcovr refuses), runs
# tests/run-all as `make check` does, then prints the
# line coverage of daemon/, plugins/ and cli/ (scripts/coverage-report).
# Counts start from zero each run; a process killed by SIGKILL loses its own.
COV_BUILD ?= build-cov
.PHONY: coverage
coverage:
	@scripts/install-deps
	@find $(COV_BUILD) -name '*.gcda' -delete 2>/dev/null || true
	@rc=0; $(MAKE) --no-print-directory BUILD=$(COV_BUILD) OPT='-O0 -g' SANITIZE= \
		CFLAGS='$(CFLAGS) --coverage -fprofile-update=atomic' LDFLAGS='$(LDFLAGS) --coverage' check || rc=$$?; \
	scripts/coverage-report $(COV_BUILD) && exit $$rc

# ---- fuzzing (libFuzzer, clang): the parsers of outside input --------------
# make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS='config crontab']: builds each
# fuzz/fuzz_NAME.c with ASan and UBSan into FUZZ_BUILD, then runs it for
# FUZZ_SECONDS from its seed corpus fuzz/corpus/NAME/ (and fuzz/NAME.dict).
# New inputs go to FUZZ_BUILD/corpus/NAME/, crashing ones to fuzz/crashes/.
# make fuzz-bins only builds them (t_fuzz_smoke.sh runs them briefly).
FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= config crontab exec_args job_payload
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
fuzz_srcs_config := daemon/config.c daemon/crontab.c daemon/log.c
fuzz_srcs_crontab := daemon/crontab.c
fuzz_srcs_exec_args := plugins/exec/exec_util.c
fuzz_srcs_job_payload := plugins/log.c daemon/job.c plugin-api/host/host_rules.c plugins/exec/exec_util.c

define fuzz_rule
$(FUZZ_BUILD)/fuzz_$(1): fuzz/fuzz_$(1).c fuzz/fuzz_memfile.h $(fuzz_srcs_$(1))
	@mkdir -p $$(dir $$@)
	$$(call say,FUZZCC,$$@)$(FUZZ_CC) $(CPPFLAGS_ALL) -Iplugins -Ifuzz $(DEPS_CFLAGS) $(WARN) \
		$(FUZZ_CFLAGS) -o $$@ $$(filter %.c,$$^) $(DEPS_LIBS) -lpthread -lm
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rule,$(t))))

.PHONY: fuzz fuzz-bins
fuzz-bins: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz: fuzz-bins
	@mkdir -p fuzz/crashes
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
		dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/fuzz_$$t.log)"; \
		$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$dict \
			-artifact_prefix=fuzz/crashes/$$t- $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
			>$(FUZZ_BUILD)/fuzz_$$t.log 2>&1 || \
			{ tail -n 40 $(FUZZ_BUILD)/fuzz_$$t.log; echo "fuzz_$$t found a crash: fuzz/crashes/$$t-*"; exit 1; }; \
		grep -E '^stat::(number_of_executed_units|new_units_added)' $(FUZZ_BUILD)/fuzz_$$t.log; \
	done
