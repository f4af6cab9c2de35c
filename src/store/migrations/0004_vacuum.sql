-- Vacuum for a queue: the delivery rows churn (inserted by fills, updated by every receive,
-- ack and nack, deleted behind the cursor), and the consumer and horizon rows are rewritten
-- by every fill. PostgreSQL's defaults wait for 20% of a table to be dead before vacuuming
-- and then throttle the vacuum; a queue's hot tables need it early and at full speed, or
-- receives wade through dead versions (docs/store.md, "Sustained load").
ALTER TABLE sequin.deliveries SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 5000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 20000,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE sequin.consumers SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 500,
  autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE sequin.horizon SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 500,
  autovacuum_vacuum_cost_delay = 0
);
-- Messages change in place on every new version: vacuum before a tenth of them are dead.
ALTER TABLE sequin.messages SET (
  autovacuum_vacuum_scale_factor = 0.05,
  autovacuum_vacuum_cost_delay = 0
);
