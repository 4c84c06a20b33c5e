-- Scale-in ladders (engine/backtest/_simulate.py): a position bought in legs, each with its
-- own stop. The loop's legs of each laddered position, as JSON (engine.live.decisions.Ladder:
-- {"taken": legs bought, "first_qty": the first leg's shares, "legs": [[number, qty, fill
-- price, stop_fraction, stop_anchor], ...] for the legs still open}). NULL: no ladder (the
-- position's stop is its stop_fraction and stop_anchor).
ALTER TABLE live_positions ADD COLUMN ladder VARCHAR;
