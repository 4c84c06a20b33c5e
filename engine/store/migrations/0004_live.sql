-- What the control room asks of the live loop, and what the loop says back about itself.

-- Trader commands: written by the control room (or `wb`), applied by the loop at the start
-- of its next step (the kill switch also before every submission). Status moves once,
-- pending -> applied | denied, with the reason.
CREATE SEQUENCE commands_seq;
CREATE TABLE commands (
    id          BIGINT PRIMARY KEY DEFAULT nextval('commands_seq'),
    created_at  TIMESTAMP NOT NULL,       -- UTC
    actor       VARCHAR NOT NULL,         -- the trader who asked
    kind        VARCHAR NOT NULL,         -- kill_switch, flatten_all, pause_strategy, ...
    payload     JSON NOT NULL,
    status      VARCHAR NOT NULL,         -- pending | applied | denied
    decided_at  TIMESTAMP,
    decided_by  VARCHAR,                  -- the loop id, or 'direct' when applied without a loop
    result      VARCHAR                   -- what happened, or why it was denied
);
CREATE INDEX commands_status ON commands (status, id);

-- One row per live-loop process, updated every step: how the control room knows it is alive.
CREATE TABLE heartbeats (
    loop_id     VARCHAR PRIMARY KEY,
    mode        VARCHAR NOT NULL,         -- replay | paper | live
    broker      VARCHAR NOT NULL,
    pid         INTEGER NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    beat_at     TIMESTAMP NOT NULL,       -- UTC wall clock of the last step
    bar_date    DATE,                     -- the bar the last step processed
    trading_state VARCHAR NOT NULL,       -- ACTIVE | REDUCING | HALTED
    configs     JSON NOT NULL,            -- config ids the loop trades
    stopped_at  TIMESTAMP                 -- set on a clean stop
);

-- The trading state that outlives any one loop process: kill switch, halts, paused configs,
-- the risk limits in force. One row per key; every change is also an event.
CREATE TABLE trading_state (
    key         VARCHAR PRIMARY KEY,      -- 'state', 'kill_switch', 'paused_configs', 'risk_limits', ...
    value       JSON NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    updated_by  VARCHAR NOT NULL
);

-- Marks of the book taken by the loop each step: the control room's equity curve and positions.
CREATE TABLE equity_snapshots (
    loop_id     VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL,       -- UTC wall clock
    bar_date    DATE NOT NULL,
    equity      DOUBLE NOT NULL,
    cash        DOUBLE NOT NULL,
    positions_value DOUBLE NOT NULL
);
CREATE INDEX equity_snapshots_ts ON equity_snapshots (bar_date);

CREATE TABLE position_snapshots (
    loop_id     VARCHAR NOT NULL,
    bar_date    DATE NOT NULL,
    symbol      VARCHAR NOT NULL,
    qty         DOUBLE NOT NULL,
    avg_price   DOUBLE NOT NULL,
    price       DOUBLE NOT NULL,          -- the mark
    stop_price  DOUBLE,
    config_id   VARCHAR,
    PRIMARY KEY (loop_id, bar_date, symbol)
);
