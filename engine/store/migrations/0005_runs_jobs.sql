-- Research runs: one row per papermill execution of a notebook (or per attempt whose
-- parameters were refused before a kernel started). Times are UTC.
CREATE TABLE research_runs (
    run_id        VARCHAR PRIMARY KEY,    -- '20240105-213001-a1b2c3': UTC start, then random
    notebook      VARCHAR NOT NULL,       -- the notebook path as resolved
    name          VARCHAR NOT NULL,       -- the notebook's file stem, e.g. 'strategy_research'
    parameters    JSON NOT NULL,          -- as given by the caller, before injection
    status        VARCHAR NOT NULL
        CHECK (status IN ('running', 'succeeded', 'failed')),
    actor         VARCHAR NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    duration_s    DOUBLE,
    error_cell    INTEGER,                -- index of the failed cell (0-based), NULL if none
    error_name    VARCHAR,                -- e.g. 'ValueError'; 'InputError' if refused before a kernel
    error_message VARCHAR,
    error_source  VARCHAR,                -- the first line of the failed cell, to recognise it
    output_path   VARCHAR,                -- the executed notebook, NULL if none was written
    pid           INTEGER NOT NULL        -- the process running it; a dead pid means abandoned
);
CREATE INDEX research_runs_started ON research_runs (started_at);

-- Configs a run proposed to the registry, with the verdict the registry gave.
CREATE TABLE research_run_configs (
    run_id      VARCHAR NOT NULL,
    config_id   VARCHAR NOT NULL,
    verdict     VARCHAR NOT NULL,         -- 'validated', 'rejected', ...
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, config_id)
);

-- Scheduled or manual runs of the jobs in jobs/jobs.yaml. A 'skipped' row is a run that
-- did not start because another instance of the same job held its lock.
CREATE SEQUENCE job_runs_seq;
CREATE TABLE job_runs (
    id           BIGINT PRIMARY KEY DEFAULT nextval('job_runs_seq'),
    job          VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,
    trigger      VARCHAR NOT NULL,        -- 'scheduler' or 'manual'
    status       VARCHAR NOT NULL
        CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'interrupted')),
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    duration_s   DOUBLE,
    error        VARCHAR,
    log          VARCHAR,                 -- the one line the scheduler logged for this run
    pid          INTEGER NOT NULL
);
CREATE INDEX job_runs_job_started ON job_runs (job, started_at);
