-- Collection runs of the monitoring report, with their per-source progress
-- (JSON), so a run's status outlives the process and the page.
CREATE TABLE monitor_crawls (
    id         {{id}},
    status     TEXT NOT NULL,
    started    BIGINT NOT NULL,
    finished   BIGINT NOT NULL DEFAULT 0,
    sources    TEXT NOT NULL DEFAULT '[]',
    error      TEXT NOT NULL DEFAULT '',
    by_account BIGINT NOT NULL DEFAULT 0
);
