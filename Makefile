# jobspy_core: PGXS build.
#
# The control file is the single source of the version.  The install script
# of the current version is built from one SQL file per module, in the order
# of SQL_MODULES.  The upgrade script to it is built the same way from
# sql/upgrade/<from>--<to>/: a module new in that version is a symlink there
# to its one file in sql/, a changed module is a delta of what changed.
# Scripts of released versions are frozen, as shipped, in releases/ (see
# docs/development.md).

EXTENSION   = jobspy_core
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big  = jobspy_core
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# Modules in install order; a name with no file in sql/ yet is skipped.
SQL_MODULES = core keys audit identity licensing licensing_tiers billing ratelimit quotas quotas_metering quotas_gauges outbox \
              billing_customers billing_catalogue billing_subscriptions billing_invoices billing_credit_notes \
              billing_orders billing_payments billing_memberships \
              webhooks webhooks_stripe loyalty loyalty_points loyalty_offers loyalty_credits \
              loyalty_events loyalty_rfm ops analytics analytics_reports analytics_billing analytics_activity roles
SQL_SOURCES = $(foreach m,$(SQL_MODULES),$(wildcard sql/$(m).sql))

UPGRADES    = $(notdir $(wildcard sql/upgrade/*--*))
DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql $(foreach u,$(UPGRADES),sql/$(EXTENSION)--$(u).sql)
DATA        = $(wildcard releases/$(EXTENSION)--*.sql)

# A file in sql/ that no script is built from would be silently left out.
SQL_STRAY   = $(filter-out $(SQL_SOURCES) $(DATA_built) sql/upgrade,$(wildcard sql/*))
ifneq ($(strip $(SQL_STRAY)),)
$(error $(SQL_STRAY): not a module of SQL_MODULES, so in no script; list it there or remove it)
endif
DOCS        = README.md

PG_CPPFLAGS = -I$(srcdir)/src -DJOBSPY_VERSION=\"$(EXTVERSION)\"
SHLIB_LINK += -lsodium -lsecp256k1

# Test suites (run by tools/test): pg_regress, isolation, pgTAP.  Expected
# outputs live in the top-level expected/; PostgreSQL 15's pg_regress reads
# sql/, expected/ and specs/ from one input directory, test/regress, whose
# entries are links to test/sql, expected and test/specs.  `make
# installcheck` runs against a server that preloads jobspy_core, so the
# nopreload_* tests (tools/test runs them on a restarted server) are not in
# REGRESS.
REGRESS      = $(filter-out nopreload_%,$(sort $(basename $(notdir $(wildcard test/sql/*.sql)))))
REGRESS_OPTS = --inputdir=test/regress --outputdir=test/results --load-extension=$(EXTENSION)
ISOLATION    = $(sort $(basename $(notdir $(wildcard test/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/regress --outputdir=test/results/isolation --load-extension=$(EXTENSION)
EXTRA_CLEAN  = test/results

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# concat_sql TARGET,HEADER,SOURCES,FILTER: one script from module files,
# each passed through FILTER (which drops their own \echo guard lines).
define concat_sql
	@{ printf '%s\n' '-- jobspy_core $(2), built from $(strip $(3)): edit those, not this file.' \
	     '\echo Use "CREATE EXTENSION jobspy_core" to load this file. \quit'; \
	   for f in $(3); do printf '\n-- ==== %s\n' "$$f"; $(4) "$$f" || exit 1; done; } > $(1) || { rm -f $(1); exit 1; }
endef
DROP_GUARD = sed '/^\\echo Use/d'

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SOURCES) $(EXTENSION).control
	$(call concat_sql,$@,$(EXTVERSION),$(SQL_SOURCES),$(DROP_GUARD))

define upgrade_rule
# A delta names changed objects with "-- @replace KIND NAME"; tools/sql_delta
# takes their statements from the module's file (see docs/development.md).
sql/$(EXTENSION)--$(1).sql: $$(wildcard sql/upgrade/$(1)/*.sql) $$(SQL_SOURCES) tools/sql_delta Makefile
	@for f in $$(wildcard sql/upgrade/$(1)/*.sql); do \
	   case " $$(SQL_MODULES) " in *" $$$$(basename $$$$f .sql) "*) ;; \
	   *) echo "$$$$f: not a module name (SQL_MODULES)" >&2; exit 1;; esac; \
	   if [ -L "$$$$f" ] && [ "$$$$(readlink "$$$$f")" != "../../$$$$(basename $$$$f)" ]; then \
	     echo "$$$$f: a new module's link must point to ../../$$$$(basename $$$$f)" >&2; exit 1; fi; done
	$$(call concat_sql,$$@,$(1),$$(foreach m,$$(SQL_MODULES),$$(wildcard sql/upgrade/$(1)/$$(m).sql)),tools/sql_delta)
endef
$(foreach u,$(UPGRADES),$(eval $(call upgrade_rule,$(u))))

.PHONY: pgtap

# make dist: the PGXN release dist/jobspy_core-<version>.zip (version from
# the control file): the committed tree at HEAD under one top directory,
# plus the built install and upgrade scripts META.json names.
DISTNAME = $(EXTENSION)-$(EXTVERSION)
.PHONY: dist
dist: $(DATA_built)
	rm -rf dist/$(DISTNAME) dist/$(DISTNAME).zip
	mkdir -p dist/$(DISTNAME)/sql
	git archive --format=zip --prefix=$(DISTNAME)/ --output=dist/$(DISTNAME).zip HEAD
	cp $(DATA_built) dist/$(DISTNAME)/sql/
	cd dist && zip -q $(DISTNAME).zip $(addprefix $(DISTNAME)/,$(DATA_built))
	rm -rf dist/$(DISTNAME)
	@echo "dist/$(DISTNAME).zip"
