-- The version of each book the live loop keeps in memory between steps (engine/live/kept.py):
-- a write of its orders or positions by anyone but the loop's own step (a trader's command,
-- applied by the loop or directly by the control room) bumps it in the same transaction, and
-- the loop, which reads it every step, then reads its books from the store again.
CREATE TABLE book_versions (
    book        VARCHAR PRIMARY KEY,      -- 'paper:<account>', 'alpaca:paper', ...
    version     BIGINT NOT NULL,
    updated_at  TIMESTAMP NOT NULL        -- UTC
);
