-- Corporate actions: the records (data layer) and what each book did with them.

-- Cash dividends as the source records them, beside the splits of 0007 (which stay the
-- record of splits). Owner: engine/data/corporate_actions.py (ingest from a source's
-- records, `wb data actions import FILE.csv`). `amount` is cash per share in the terms
-- of the bars the same source gives for that date (as traded for the sample and Alpaca).
CREATE TABLE dividends (
    symbol      VARCHAR NOT NULL,
    ex_date     DATE NOT NULL,          -- the first session the shares trade without it
    amount      DOUBLE NOT NULL,        -- cash per share
    pay_date    DATE,                   -- NULL when the source does not say
    source      VARCHAR NOT NULL,       -- 'sample', 'yahoo', 'csv:<file name>'
    ingested_at TIMESTAMP NOT NULL,     -- UTC
    PRIMARY KEY (symbol, ex_date)
);

-- The paper broker's corporate-action adjustments of an account, one per action and
-- symbol held on its ex-date: the primary key applies each once, whatever restarts.
-- Positions and cash are derived from fills and these together, in `seq` order (the
-- fills' sequence). Owner: engine/brokers/paper.py.
CREATE TABLE paper_adjustments (
    account     VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,       -- split | dividend
    ex_date     DATE NOT NULL,
    seq         BIGINT NOT NULL DEFAULT nextval('paper_fills_seq'),
    ratio       DOUBLE NOT NULL,        -- new shares per old share (1 for a dividend)
    amount      DOUBLE NOT NULL,        -- dividend per share (0 for a split)
    qty_before  DOUBLE NOT NULL,
    qty_after   DOUBLE NOT NULL,        -- after the split, less the fraction paid in cash
    cash        DOUBLE NOT NULL,        -- the dividend, or the cash in lieu of a fraction
    price       DOUBLE,                 -- a split's cash-in-lieu price per new share
    applied_at  TIMESTAMP NOT NULL,     -- UTC (simulated in a replay)
    PRIMARY KEY (account, symbol, kind, ex_date)
);

-- The live loop's record of the corporate actions it took into its book (a split's new
-- quantity and stop levels, a dividend's cash in its config's sub-book), once per book.
-- Owner: engine/live/ledger.py.
CREATE TABLE live_adjustments (
    book        VARCHAR NOT NULL,
    symbol      VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,       -- split | dividend
    ex_date     DATE NOT NULL,
    config_id   VARCHAR,                -- whose sub-book it is (NULL: a trader's own position)
    ratio       DOUBLE NOT NULL,
    amount      DOUBLE NOT NULL,
    qty_before  DOUBLE NOT NULL,
    qty_after   DOUBLE NOT NULL,
    cash        DOUBLE NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (book, symbol, kind, ex_date)
);
