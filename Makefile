# jobspy_core: PGXS build.
#
# The control file is the single source of the version.  The install script
# of the current version is built from one SQL file per module, in the order
# of SQL_MODULES.  Each upgrade script is built the same way from the module
# files in sql/upgrade/<from>--<to>/.  Released versions keep their full
# install scripts, committed, in sql/ (see docs/development.md).

EXTENSION   = jobspy_core
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big  = jobspy_core
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

SQL_MODULES = core keys audit identity licensing billing ratelimit quotas ops analytics roles
SQL_SOURCES = $(foreach m,$(SQL_MODULES),$(wildcard sql/$(m).sql))

UPGRADES    = $(notdir $(wildcard sql/upgrade/*--*))
DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql $(foreach u,$(UPGRADES),sql/$(EXTENSION)--$(u).sql)
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

# concat_sql TARGET,HEADER,SOURCES: one script from module files, minus
# their own \echo guard lines.
define concat_sql
	@{ printf '%s\n' '-- jobspy_core $(2), built from $(strip $(3)): edit those, not this file.' \
	     '\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit'; \
	   for f in $(3); do printf '\n-- ==== %s\n' "$$f"; sed '/^\\echo Use/d' "$$f"; done; } > $(1)
endef

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES) $(EXTENSION).control
	$(call concat_sql,$@,$(EXTVERSION),$(SQL_SOURCES))

define upgrade_rule
sql/$(EXTENSION)--$(1).sql: $$(wildcard sql/upgrade/$(1)/*.sql) Makefile
	@for f in $$(wildcard sql/upgrade/$(1)/*.sql); do \
	   case " $$(SQL_MODULES) " in *" $$$$(basename $$$$f .sql) "*) ;; \
	   *) echo "$$$$f: not a module name (SQL_MODULES)" >&2; exit 1;; esac; done
	$$(call concat_sql,$$@,$(1),$$(foreach m,$$(SQL_MODULES),$$(wildcard sql/upgrade/$(1)/$$(m).sql)))
endef
$(foreach u,$(UPGRADES),$(eval $(call upgrade_rule,$(u))))

.PHONY: pgtap
