-- Intraday loops: the paper broker and the loop's book keep the intraday bar, not only its
-- session date (NULL where the bars are daily). Times are naive UTC, as everywhere.
ALTER TABLE paper_accounts ADD COLUMN last_bar_at TIMESTAMP;  -- newest intraday bar processed: its start
ALTER TABLE paper_orders ADD COLUMN after_bar_at TIMESTAMP;   -- newest intraday bar when submitted: fills on a later bar only
ALTER TABLE live_books ADD COLUMN bar_at TIMESTAMP;           -- the last intraday bar fully stepped: its close
