-- Each book's buying power as its broker last reported it (the account snapshot the loop
-- steps on), shown beside cash. NULL until a loop has stepped since this migration.
-- Owner: engine.live.books.
ALTER TABLE live_books ADD COLUMN buying_power DOUBLE;
