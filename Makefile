# primary_guard: PGXS build.  `make test` runs every suite, `make demo` replays
# the switchover incident, `make bench` measures the hook's overhead,
# `make deb` builds the Debian package and `make dist` the PGXN archive
# (both into dist/, see packaging/).

MODULE_big = primary_guard
OBJS = \
	src/primary_guard.o \
	src/policy_catalog.o \
	src/policy_cache.o \
	src/policy_sql.o \
	src/scan_estimate.o \
	src/plan_check.o \
	src/executor_guard.o \
	src/runtime_limits.o \
	src/utility_guard.o \
	src/violation.o \
	src/check_query.o \
	src/stats.o \
	src/shmem.o \
	src/promotion.o \
	src/replication_guard.o
PGFILEDESC = "primary_guard - per-role query limits that follow primary/standby state"

EXTENSION = primary_guard
# Every install script: fresh installs (primary_guard--X.Y.sql), upgrades
# (primary_guard--X.Y--X.Z.sql), and the secondary control files of older
# versions (primary_guard--X.Y.control).
DATA = $(wildcard primary_guard--*.sql) $(wildcard primary_guard--*.control)

# `make installcheck` runs each suite in a temporary instance of its own,
# started with test/primary_guard.conf.  EXISTING_SERVER=1 runs them against
# the server of PGHOST/PGPORT instead, which must have those settings
# (debian/tests/installcheck: pg_buildext installcheck on the package).
TEST_CONF = test/primary_guard.conf
REGRESS = install extension_schema policy_sql resolution executor rows_read runtime introspection deny_objects parallel utility check_query stats security bad_input predicate_locks
ISOLATION = policy_change policy_race copy_race policy_serializable concurrent_ddl policy_midstatement
ifndef EXISTING_SERVER
REGRESS_OPTS = --temp-config=$(TEST_CONF) --temp-instance=./tmp_check
ISOLATION_OPTS = --temp-config=$(TEST_CONF) --temp-instance=./tmp_check_iso
endif
TAP_TESTS = 1

PG_CPPFLAGS = -Wall -Wextra -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: test demo bench deb dist
test:
	bash test/run_tests.sh

demo:
	bash test/demo.sh

bench:
	bash bench/run.sh

# Output directory of `make deb` and `make dist` (DIST_DIR=... to change it).
DIST_DIR ?= dist

deb:
	bash packaging/deb.sh "$(DIST_DIR)"

dist:
	bash packaging/dist.sh "$(DIST_DIR)"
