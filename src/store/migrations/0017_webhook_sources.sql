-- The webhook source (docs/sources.md, "Webhook source"): a source of kind 'webhook' is a
-- name that POST /api/webhook/:name writes into its stream; no process runs it. Its settings
-- are the key's field or header and the secret and signature it checks.
ALTER TABLE sequin.sources DROP CONSTRAINT sources_kind_check;
ALTER TABLE sequin.sources ADD CONSTRAINT sources_kind_check
  CHECK (kind IN ('postgres', 'webhook'));
-- A declared source says its kind: the function takes it (functions/reconcile_sources.sql).
DROP FUNCTION IF EXISTS sequin.reconcile_sources(text[], text[], text[]);
