-- Intraday bars (1m, 5m, 15m, 30m, 1h) beside the daily `bars`, which stay as they are.
-- As traded plus the source's adjusted close, like daily bars. `ts` is the bar's start
-- in UTC (shown in America/New_York); `extended` marks pre- and post-market bars, which
-- are read only when asked for. No primary key: an index over tens of millions of
-- minutes would not fit the memory budget, so ingest keeps (symbol, bar_size, ts) unique
-- itself, and rows inserted in (symbol, ts) order let DuckDB's zone maps skip to the
-- symbols and range a backtest asks for.
CREATE TABLE intraday_bars (
    symbol      VARCHAR NOT NULL,
    bar_size    VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL,
    open        DOUBLE NOT NULL,
    high        DOUBLE NOT NULL,
    low         DOUBLE NOT NULL,
    close       DOUBLE NOT NULL,
    volume      DOUBLE NOT NULL,
    adj_close   DOUBLE NOT NULL,
    extended    BOOLEAN NOT NULL,
    source      VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL
);

-- Splits as the source records them (ratio: new shares per old share, 2.0 for 2-for-1,
-- 0.1 for a 1-for-10 reverse split), so the checks can tell a split from a real jump.
CREATE TABLE splits (
    symbol      VARCHAR NOT NULL,
    date        DATE NOT NULL,
    ratio       DOUBLE NOT NULL,
    source      VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL,
    PRIMARY KEY (symbol, date)
);

-- Which bar size an ingest loaded, and the bar a finding is about.
ALTER TABLE ingests ADD COLUMN bar_size VARCHAR DEFAULT '1d';
ALTER TABLE bar_flags ADD COLUMN bar_size VARCHAR DEFAULT '1d';
ALTER TABLE bar_flags ADD COLUMN ts TIMESTAMP;
