-- Entries a trader approves (engine/live/approvals.py writes and reads them). When the
-- account's risk limits or a config ask for approval, the loop proposes an entry instead
-- of sending it; a trader approves or rejects it (a command the loop applies) before it
-- expires. State moves proposed -> approved -> sent, or to rejected | expired | denied,
-- each move an event. An order is sent only from a proposal, under its client order id
-- (the decision's), so an approval applied twice sends nothing twice.
CREATE SEQUENCE proposals_seq;
CREATE TABLE proposals (
    id              BIGINT PRIMARY KEY DEFAULT nextval('proposals_seq'),
    book            VARCHAR NOT NULL,
    mode            VARCHAR NOT NULL,      -- the loop's: replay | paper | live
    client_order_id VARCHAR NOT NULL,
    config_id       VARCHAR NOT NULL,
    symbol          VARCHAR NOT NULL,
    qty             DOUBLE NOT NULL,       -- as the gate approved it at the proposal
    price           DOUBLE NOT NULL,       -- the decision price: the close it was sized at (traded)
    stop_price      DOUBLE,                -- the attached protective stop (traded)
    target_price    DOUBLE,                -- the profit target resting with it
    stop_fraction   DOUBLE,
    time_in_force   VARCHAR NOT NULL,
    decision_bar    DATE NOT NULL,         -- the session of the deciding bar
    decided_at      TIMESTAMP NOT NULL,    -- the deciding bar as the gate keys it (UTC)
    bar             VARCHAR NOT NULL,      -- the deciding bar, as a trader reads it
    why             VARCHAR NOT NULL,      -- why it waits for a trader
    reasons         JSON NOT NULL,         -- signal, size, stop, target, risk
    proposed_at     TIMESTAMP NOT NULL,    -- UTC (a replay's: its simulated time)
    expires_at      TIMESTAMP NOT NULL,    -- UTC: not sent once this has passed
    state           VARCHAR NOT NULL,      -- proposed | approved | sent | rejected | expired | denied
    state_at        TIMESTAMP,
    state_by        VARCHAR,               -- the trader who approved or rejected it, or the loop
    note            VARCHAR,               -- why it was rejected, expired or denied
    command_id      BIGINT,                -- the trader's approve or reject command
    UNIQUE (book, client_order_id)
);
CREATE INDEX proposals_state ON proposals (book, state, id);
