-- A paper account's marks (the last close per symbol) as one JSON object in its row
-- ({"AAPL": 187.44, ...}), not two lists side by side: a bar writes them every time, and
-- DuckDB binds a list parameter slowly (20 symbols: 1.2 ms a bar against 0.7 ms; 500: 2.4
-- against 0.8). Text, not the JSON type: Python writes and reads it, and each double
-- round-trips exactly (DuckDB's to_json below prints the shortest exact form too).
-- Owner: engine/brokers/paper.py.
ALTER TABLE paper_accounts ADD COLUMN marks VARCHAR;
UPDATE paper_accounts SET marks = to_json(map(mark_symbols, mark_prices))::VARCHAR
WHERE mark_symbols IS NOT NULL;
ALTER TABLE paper_accounts DROP COLUMN mark_symbols;
ALTER TABLE paper_accounts DROP COLUMN mark_prices;
