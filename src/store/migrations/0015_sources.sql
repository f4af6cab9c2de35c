-- Sources (SPEC 8, docs/sources.md): what writes messages into a stream by itself. A postgres
-- source streams a user's tables through logical replication; its progress is kept here, in
-- the same transaction as the messages it covers, so that a replay from the slot after any
-- crash skips what the stream already has.
CREATE TABLE sequin.sources (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- The compact number: the advisory lock that lets one node at a time run the source.
  num int GENERATED ALWAYS AS IDENTITY UNIQUE,
  name text NOT NULL UNIQUE CHECK (name ~ '^[a-zA-Z0-9_]{1,64}$'),
  kind text NOT NULL CHECK (kind IN ('postgres')),
  -- A source writes into one stream; deleting the stream deletes its sources.
  stream int NOT NULL REFERENCES sequin.streams (num) ON DELETE CASCADE,
  -- The kind's settings as the config file or the API gave them (url, slot, publication,
  -- tables, key_format, backfill). A change of them restarts the source.
  settings jsonb NOT NULL,
  managed_by text NOT NULL DEFAULT 'api' CHECK (managed_by IN ('api', 'config')),
  -- Every source transaction that committed at or before this position is in the stream.
  applied_lsn pg_lsn NOT NULL DEFAULT '0/0',
  inserted_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- What the process running a source last reported (written about once a second): the state
-- `info` shows, the error that put it there, and how far behind the source's database it is.
CREATE TABLE sequin.source_status (
  source uuid PRIMARY KEY REFERENCES sequin.sources (id) ON DELETE CASCADE,
  state text NOT NULL,
  error text,
  node text,
  received_lsn pg_lsn,
  last_commit_lsn pg_lsn,
  last_commit_at timestamptz,
  lag_bytes bigint,
  rows_streamed bigint NOT NULL DEFAULT 0,
  -- Since the process started the source: its attempts that took the lock (each after the
  -- first is a reconnect) and its failed attempts (/metrics).
  errors bigint NOT NULL DEFAULT 0,
  attempts bigint NOT NULL DEFAULT 0,
  reported_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

-- Backfill of one table of a source: the primary key of the last row it put in the stream
-- (its text form, one element per key column), so that a restart resumes after it.
CREATE TABLE sequin.source_backfills (
  source uuid NOT NULL REFERENCES sequin.sources (id) ON DELETE CASCADE,
  table_name text NOT NULL,
  last_key text[],
  rows_done bigint NOT NULL DEFAULT 0,
  rows_estimate bigint,
  done boolean NOT NULL DEFAULT false,
  PRIMARY KEY (source, table_name)
);
