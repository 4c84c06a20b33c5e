-- The trial ledger: every run that evaluated parameter combinations (a backtest, a sweep, a
-- validation, a notebook run, on this machine or Ray), per family: a strategy on a universe
-- (its symbols as a set) at a bar size. Owner: engine.research.trials. Times are UTC.
CREATE SEQUENCE trial_runs_seq;
CREATE TABLE trial_runs (
    id            BIGINT PRIMARY KEY DEFAULT nextval('trial_runs_seq'),
    family_id     VARCHAR NOT NULL,       -- sha256 of {strategy, sorted universe, bar_size}, 16 hex
    strategy      VARCHAR NOT NULL,
    universe      JSON NOT NULL,          -- the symbols, sorted
    bar_size      VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,       -- 'backtest', 'sweep', 'walk_forward', 'validation'
    combinations  INTEGER NOT NULL,       -- combinations this run evaluated
    new_combinations INTEGER NOT NULL,    -- of those, the ones the family had never tried
    grid_digest   VARCHAR NOT NULL,       -- sha256 of the run's sorted combination hashes, 16 hex
    grid          JSON NOT NULL,          -- each parameter's values tried
    data_start    DATE,
    data_end      DATE,
    executor      VARCHAR NOT NULL,       -- 'local', 'ray', ...
    run_id        VARCHAR,                -- the notebook run, if any
    actor         VARCHAR NOT NULL,
    recorded_at   TIMESTAMP NOT NULL
);
CREATE INDEX trial_runs_family ON trial_runs (family_id, recorded_at);

-- Each distinct combination (params and backtest settings) a family has been evaluated with,
-- once: the deflated Sharpe's count. Re-running a grid adds nothing; a new value adds its
-- combinations.
CREATE TABLE trial_combinations (
    family_id     VARCHAR NOT NULL,
    combination   VARCHAR NOT NULL,       -- sha256 of the canonical {params, settings}, 16 hex
    first_run     BIGINT NOT NULL,        -- trial_runs.id that first tried it
    PRIMARY KEY (family_id, combination)
);
