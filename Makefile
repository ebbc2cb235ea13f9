# pg_governor: PGXS build.  make && make install; tests: make installcheck
# (each suite can be run alone by blanking the others, as .ci/run does).

MODULE_big = pg_governor
OBJS = \
	extension/pg_governor.o \
	extension/vocabulary.o \
	extension/match.o \
	extension/registry.o \
	extension/rules.o \
	extension/pools.o \
	extension/events.o \
	extension/bucket.o \
	extension/bans.o \
	extension/active.o \
	extension/admission.o \
	extension/enforcement.o \
	extension/counters.o \
	extension/stats.o \
	extension/prom.o \
	extension/metrics.o \
	extension/metrics_pgbouncer.o \
	extension/http_request.o \
	extension/http.o \
	extension/worker.o \
	extension/views.o \
	extension/admin.o

EXTENSION = pg_governor
# Relative to $(srcdir): PGXS prefixes it again at install (VPATH builds).
DATA = $(patsubst $(srcdir)/%,%,$(wildcard $(srcdir)/extension/pg_governor--*.sql))
PGFILEDESC = "pg_governor - connection governance inside PostgreSQL"

PG_CPPFLAGS = -I$(srcdir)/extension
# -Wextra trips on PostgreSQL's own headers for these two only.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-sign-compare -Wno-cast-function-type

NO_LOCALE = 1
REGRESS = install surface views rules admin enforcement stats upgrade
REGRESS_OPTS = --temp-instance=./tmp_check_regress --temp-config=$(srcdir)/test/pg_governor.conf
ISOLATION = pool_counts queue_order rule_count
ISOLATION_OPTS = --temp-instance=./tmp_check_iso --temp-config=$(srcdir)/test/isolation/isolation.conf \
	--inputdir=$(srcdir)/test/isolation
TAP_TESTS = 1
PROVE_TESTS ?= test/t/*.pl

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Out-of-tree (VPATH) builds, as pg_buildext does for the Debian package
# (make -f ../Makefile VPATH=..): the objects go to extension/ there.
ifdef VPATH
$(shell mkdir -p extension)
endif
