-- The paper account's generation: every write to an account's books (orders, fills, marks,
-- adjustments, its own row) bumps it in the same transaction, so a paper broker that keeps
-- the account in memory knows, with one cheap read, whether another writer (a second broker
-- object, the control room, a `wb` command in another process) changed it since.
-- Owner: engine/brokers/paper.py.
ALTER TABLE paper_accounts ADD COLUMN generation BIGINT DEFAULT 0;
