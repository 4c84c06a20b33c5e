-- The audit trail and the bars. Every later part appends to events; nothing updates them.
CREATE SEQUENCE events_seq;
CREATE TABLE events (
    id       BIGINT PRIMARY KEY DEFAULT nextval('events_seq'),
    ts       TIMESTAMP NOT NULL,          -- UTC
    actor    VARCHAR NOT NULL,            -- who: a user, 'loop', 'scheduler', 'cli:<user>'
    kind     VARCHAR NOT NULL,            -- what: 'ingest', 'config.approved', 'order.submitted', ...
    subject  VARCHAR,                     -- what it is about: a symbol, a config id, an order id
    payload  JSON NOT NULL
);
CREATE INDEX events_kind_ts ON events (kind, ts);

-- Daily bars as traded (unadjusted) plus the source's split- and dividend-adjusted close;
-- adjusted OHLC are derived on read from adj_close / close.
CREATE TABLE bars (
    symbol      VARCHAR NOT NULL,
    date        DATE NOT NULL,
    open        DOUBLE NOT NULL,
    high        DOUBLE NOT NULL,
    low         DOUBLE NOT NULL,
    close       DOUBLE NOT NULL,
    volume      DOUBLE NOT NULL,
    adj_close   DOUBLE NOT NULL,
    source      VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL,
    PRIMARY KEY (symbol, date)
);

-- Findings of the quality checks on stored bars that were kept ("flag" policy or warnings).
CREATE TABLE bar_flags (
    symbol   VARCHAR NOT NULL,
    date     DATE,
    check_name VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,            -- 'error' or 'warning'
    reason   VARCHAR NOT NULL,
    ingest_id BIGINT NOT NULL
);

CREATE SEQUENCE ingests_seq;
CREATE TABLE ingests (
    id          BIGINT PRIMARY KEY DEFAULT nextval('ingests_seq'),
    source      VARCHAR NOT NULL,
    symbols     VARCHAR[] NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    rows_added  BIGINT NOT NULL,
    rows_dropped BIGINT NOT NULL,
    flags       BIGINT NOT NULL,
    policy      VARCHAR NOT NULL
);
