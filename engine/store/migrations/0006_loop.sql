-- The live loop's own books (engine/live), and the paper broker's attached stops.

-- A buy may carry a protective stop (one-triggers-other): the paper broker places it, as
-- a sell stop named '<client order id>-stop', the moment the buy fills.
ALTER TABLE paper_orders ADD COLUMN stop_loss_price DOUBLE;
ALTER TABLE paper_orders ADD COLUMN parent_id VARCHAR;   -- the buy an attached stop belongs to

-- Every order the loop sent, one row per client order id, with what the broker last said
-- of it; a sell is booked to the config whose position it sells. A crash between sending
-- and recording loses nothing: client order ids are deterministic (engine/live/ids.py),
-- so the repeated step finds its orders at the broker and records them then.
CREATE TABLE live_orders (
    book            VARCHAR NOT NULL,     -- the broker account: 'paper:<account>', 'alpaca:paper', ...
    client_order_id VARCHAR NOT NULL,
    config_id       VARCHAR,              -- the config whose sub-book it belongs to
    symbol          VARCHAR NOT NULL,
    side            VARCHAR NOT NULL,     -- buy | sell
    purpose         VARCHAR NOT NULL,     -- entry | exit | stop | manual
    qty             DOUBLE NOT NULL,
    type            VARCHAR NOT NULL,     -- market | limit | stop
    limit_price     DOUBLE,
    stop_price      DOUBLE,
    stop_loss_price DOUBLE,               -- an entry's attached stop
    decision_bar    DATE,                 -- the bar whose close decided it
    decision_price  DOUBLE,               -- the close it was sized at (an entry's stop anchor)
    stop_fraction   DOUBLE,               -- an entry's stop distance over that close
    broker_order_id VARCHAR,
    status          VARCHAR NOT NULL,     -- open | filled | canceled | expired | rejected
    filled_qty      DOUBLE NOT NULL DEFAULT 0,
    filled_avg_price DOUBLE,
    fees            DOUBLE NOT NULL DEFAULT 0,
    filled_at       TIMESTAMP,            -- when the loop saw it (last) fill, UTC
    realised_pnl    DOUBLE,               -- a sell's profit over the position's average cost
    reason          VARCHAR,              -- why it was denied, rejected, canceled or cut
    created_at      TIMESTAMP NOT NULL,   -- UTC (simulated in a replay)
    updated_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (book, client_order_id)
);

-- The loop's view of each open position: whose it is and its stop. Quantities are the
-- broker's (checked every step); the stop state is the loop's own (see
-- engine/backtest/rules.py): level = anchor * (1 - stop_fraction), the anchor trailing up.
CREATE TABLE live_positions (
    book          VARCHAR NOT NULL,
    symbol        VARCHAR NOT NULL,
    config_id     VARCHAR,                -- NULL: a trader's own position
    qty           DOUBLE NOT NULL,
    avg_price     DOUBLE NOT NULL,
    entry_bar     DATE,                   -- the bar whose close decided the entry
    opened_at     TIMESTAMP NOT NULL,
    last_buy_at   TIMESTAMP NOT NULL,
    stop_fraction DOUBLE,                 -- NaN/NULL: no stop
    stop_anchor   DOUBLE,
    manual_stop   DOUBLE,                 -- a trader's tightened stop, which the loop never lowers
    trails        BOOLEAN NOT NULL DEFAULT false,  -- a trailing stop
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (book, symbol)
);

-- Which book a loop process traded, so a restarted loop finds its predecessors' marks.
ALTER TABLE heartbeats ADD COLUMN book VARCHAR;

-- Each book's last reconciled state: what the next start-up compares the broker with.
CREATE TABLE live_books (
    book        VARCHAR PRIMARY KEY,
    mode        VARCHAR NOT NULL,
    broker      VARCHAR NOT NULL,
    configs     JSON NOT NULL,            -- config id -> its sub-book's starting cash
    cash        DOUBLE NOT NULL,          -- the broker's cash after the last step
    equity      DOUBLE NOT NULL,
    bar_date    DATE,                     -- the last bar fully stepped
    updated_at  TIMESTAMP NOT NULL
);
