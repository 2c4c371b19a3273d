# jobspy_core: PGXS build.
#
# The control file is the single source of the version.  The install script
# of the current version is built from one SQL file per module, in the order
# of SQL_MODULES; released versions keep their full scripts and the upgrade
# scripts between them in sql/ (see docs/development.md).

EXTENSION   = jobspy_core
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big  = jobspy_core
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

SQL_MODULES = core keys audit identity licensing billing ratelimit quotas ops analytics roles
SQL_SOURCES = $(foreach m,$(SQL_MODULES),$(wildcard sql/$(m).sql))

DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA        = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))
DOCS        = README.md

PG_CPPFLAGS = -I$(srcdir)/src -DJOBSPY_VERSION=\"$(EXTVERSION)\"
SHLIB_LINK += -lsodium

# Test suites (run by tools/test): pg_regress, isolation, pgTAP.
REGRESS      = $(sort $(basename $(notdir $(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test --outputdir=test/results --load-extension=$(EXTENSION)
ISOLATION    = $(sort $(basename $(notdir $(wildcard test/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test --outputdir=test/results/isolation --load-extension=$(EXTENSION)
EXTRA_CLEAN  = test/results

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES) $(EXTENSION).control
	@{ printf '%s\n' '-- jobspy_core $(EXTVERSION), built from sql/<module>.sql: edit those, not this file.' \
	     '\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit'; \
	   for f in $(SQL_SOURCES); do printf '\n-- ==== %s\n' "$$f"; sed '/^\\echo Use/d' "$$f"; done; } > $@

.PHONY: pgtap
