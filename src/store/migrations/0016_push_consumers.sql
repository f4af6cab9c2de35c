-- Push consumers (issue 15, docs/api.md "Push consumers"): a consumer's kind, and for a push
-- consumer the endpoint its messages are POSTed to and how its deliveries are paced. The
-- settings of delivery are NULL for a pull consumer, so that a pull consumer carries nothing
-- it does not use and a change of kind (refused everywhere) would have to set them all.
ALTER TABLE sequin.consumers
  ADD COLUMN kind text NOT NULL DEFAULT 'pull' CHECK (kind IN ('pull', 'push')),
  -- {"url", "headers": {name: value}, "signing_secret"}, checked by the server
  -- (sequin/push_rules.h) before it gets here.
  ADD COLUMN http_endpoint jsonb,
  -- Requests in flight at once to the endpoint.
  ADD COLUMN max_waiting int,
  -- The wait before a failed delivery is tried again: backoff_base_ms doubled per earlier
  -- delivery, with jitter, at most backoff_max_ms.
  ADD COLUMN backoff_base_ms int,
  ADD COLUMN backoff_max_ms int,
  ADD CONSTRAINT consumers_push_settings CHECK (
    CASE kind
      WHEN 'pull' THEN http_endpoint IS NULL AND max_waiting IS NULL
                       AND backoff_base_ms IS NULL AND backoff_max_ms IS NULL
      ELSE jsonb_typeof(http_endpoint -> 'url') = 'string'
           AND max_waiting BETWEEN 1 AND max_ack_pending
           AND backoff_base_ms BETWEEN 1 AND backoff_max_ms
    END);

-- create_consumer and reconcile take the kind and the push settings: new signatures.
DROP FUNCTION sequin.create_consumer(int, text, text, int, int, int, text, text);
DROP FUNCTION sequin.reconcile(text[], text[], text[], int[], int[], int[], text[]);
