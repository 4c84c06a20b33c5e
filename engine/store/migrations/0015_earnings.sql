-- Earnings dates per symbol, for the risk gate's earnings blackout (engine/data/earnings.py
-- writes and reads them). A refresh from Yahoo replaces that source's dates of a symbol
-- from the oldest date it returned on; a CSV import adds its dates. The gate reads every
-- source alike: the next date on or after an order's session.
CREATE TABLE earnings_dates (
    symbol      VARCHAR NOT NULL,
    date        DATE NOT NULL,          -- the New York date of the report (before the open or after the close)
    source      VARCHAR NOT NULL,       -- 'yahoo', or 'csv:<file name>'
    updated_at  TIMESTAMP NOT NULL,     -- UTC: when it was fetched or imported
    PRIMARY KEY (symbol, date)
);
