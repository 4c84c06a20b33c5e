-- The paper broker's books. Orders and fills are the record; cash and positions are
-- derived from the fills on read, so they can never drift from them. Several paper
-- accounts can share one store (e.g. one per sandbox), each named by `account`.
CREATE TABLE paper_accounts (
    account       VARCHAR PRIMARY KEY,
    starting_cash DOUBLE NOT NULL,
    created_at    TIMESTAMP NOT NULL,      -- UTC
    last_bar_date DATE                     -- newest bar processed; NULL before the first
);

CREATE SEQUENCE paper_orders_seq;
CREATE TABLE paper_orders (
    id               VARCHAR PRIMARY KEY,  -- the broker's id (a UUID, as Alpaca's)
    seq              BIGINT NOT NULL DEFAULT nextval('paper_orders_seq'),  -- submission order
    account          VARCHAR NOT NULL,
    client_order_id  VARCHAR NOT NULL,
    symbol           VARCHAR NOT NULL,
    side             VARCHAR NOT NULL,     -- buy | sell
    qty              DOUBLE NOT NULL,
    type             VARCHAR NOT NULL,     -- market | limit | stop
    time_in_force    VARCHAR NOT NULL,     -- day | gtc
    limit_price      DOUBLE,
    stop_price       DOUBLE,
    status           VARCHAR NOT NULL,     -- accepted | filled | canceled | expired
    filled_qty       DOUBLE NOT NULL DEFAULT 0,
    filled_avg_price DOUBLE,
    submitted_at     TIMESTAMP NOT NULL,   -- UTC
    updated_at       TIMESTAMP NOT NULL,   -- UTC
    after_bar        DATE,                 -- newest bar when submitted: fills on a later bar only
    -- One order per client order id, enforced by the database, so two processes racing
    -- to submit the same decision cannot both succeed.
    UNIQUE (account, client_order_id)
);

CREATE SEQUENCE paper_fills_seq;
CREATE TABLE paper_fills (
    id              VARCHAR PRIMARY KEY,
    seq             BIGINT NOT NULL DEFAULT nextval('paper_fills_seq'),  -- time order
    account         VARCHAR NOT NULL,
    order_id        VARCHAR NOT NULL,
    client_order_id VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    side            VARCHAR NOT NULL,
    qty             DOUBLE NOT NULL,       -- positive; the side gives the direction
    price           DOUBLE NOT NULL,       -- after slippage
    fee             DOUBLE NOT NULL,
    bar_date        DATE NOT NULL,         -- the bar that filled it
    filled_at       TIMESTAMP NOT NULL,    -- UTC: that session's open
    UNIQUE (order_id)                      -- the paper broker fills an order whole, once
);

-- The last close seen per symbol: what open positions are marked to.
CREATE TABLE paper_marks (
    account VARCHAR NOT NULL,
    symbol  VARCHAR NOT NULL,
    date    DATE NOT NULL,
    price   DOUBLE NOT NULL,
    PRIMARY KEY (account, symbol)
);
