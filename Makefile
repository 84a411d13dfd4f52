# primary_guard: PGXS build.  `make test` runs every suite, `make demo` replays
# the switchover incident, `make bench` measures the hook's overhead.

MODULE_big = primary_guard
OBJS = \
	src/primary_guard.o \
	src/policy_catalog.o \
	src/policy_cache.o \
	src/policy_sql.o \
	src/plan_check.o \
	src/executor_guard.o \
	src/utility_guard.o \
	src/violation.o \
	src/check_query.o \
	src/stats.o \
	src/shmem.o \
	src/promotion.o \
	src/replication_guard.o
PGFILEDESC = "primary_guard - per-role query limits that follow primary/standby state"

EXTENSION = primary_guard
DATA = primary_guard--1.0.sql primary_guard--1.1.sql primary_guard--1.0--1.1.sql primary_guard--1.0.control

TEST_CONF = test/primary_guard.conf
REGRESS = install extension_schema policy_sql resolution executor utility check_query stats security bad_input predicate_locks
REGRESS_OPTS = --temp-config=$(TEST_CONF) --temp-instance=./tmp_check
ISOLATION = policy_change policy_race policy_serializable concurrent_ddl policy_midstatement
ISOLATION_OPTS = --temp-config=$(TEST_CONF) --temp-instance=./tmp_check_iso
TAP_TESTS = 1

PG_CPPFLAGS = -Wall -Wextra -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: test demo bench
test:
	bash test/run_tests.sh

demo:
	bash test/demo.sh

bench:
	bash bench/run.sh
