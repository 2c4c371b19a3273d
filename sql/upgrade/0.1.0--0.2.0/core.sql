\echo Use "ALTER EXTENSION jobspy_core UPDATE TO '0.2.0'" to load this file. \quit
-- core: no change from 0.1.0.
