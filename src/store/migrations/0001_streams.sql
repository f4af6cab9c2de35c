-- Streams: named namespaces of messages (SPEC section 3). The `default` stream exists from
-- the first start.
CREATE TABLE sequin.streams (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- The compact key every message and consumer row carries (4 bytes, not the uuid's 16).
  num int GENERATED ALWAYS AS IDENTITY UNIQUE,
  name text NOT NULL UNIQUE CHECK (name ~ '^[a-zA-Z0-9_]{1,64}$'),
  inserted_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO sequin.streams (name) VALUES ('default');
