-- From here on the store's SQL functions live in src/store/functions/, one file each, written
-- as CREATE OR REPLACE and applied after the migrations whenever their text changes
-- (docs/store.md, "Migrations"). Migrations keep the tables, indexes and settings, and the
-- DROP FUNCTION that a change of signature needs, as here: sequin.upsert and
-- sequin.upsert_grouped, which repeated one body, become one sequin.upsert that takes the
-- requests of a group commit as an argument (functions/upsert.sql).
DROP FUNCTION sequin.upsert(int, text[], text[], bytea[]);
DROP FUNCTION sequin.upsert_grouped(int, text[], text[], bytea[], int[]);
