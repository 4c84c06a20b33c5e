-- Profit targets (engine/backtest/rules.py): a target rests beside its stop as one bracket.

-- The paper broker's own OCO: a sell stop with a take_profit_price is one order whose fill
-- at either price closes it, so a fill can never leave the other leg working. On a buy,
-- the target attached with its stop_loss_price (a bracket), placed with the stop on fill.
ALTER TABLE paper_orders ADD COLUMN take_profit_price DOUBLE;

-- An entry's attached target, as sent.
ALTER TABLE live_orders ADD COLUMN take_profit_price DOUBLE;

-- The loop's target for each open position (a price; it does not trail). NULL: none.
ALTER TABLE live_positions ADD COLUMN target_price DOUBLE;
