-- The config registry: one row per trading config (keyed by its content hash) and its
-- lifecycle status. Every status change is also an event ('config.<status>') written in
-- the same transaction; this table is the current state, the events are the history.
CREATE TABLE configs (
    config_id   VARCHAR PRIMARY KEY,      -- sha256 of the canonical trading JSON, 16 hex
    strategy    VARCHAR NOT NULL,
    status      VARCHAR NOT NULL
        CHECK (status IN ('draft', 'validated', 'rejected', 'approved', 'paused', 'retired')),
    config      JSON NOT NULL,            -- the StrategyConfig with its evidence
    reasons     JSON NOT NULL,            -- the validation verdict's failed checks ([] if none)
    created_by  VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL,       -- UTC
    updated_at  TIMESTAMP NOT NULL        -- UTC, of the last status or evidence change
);
