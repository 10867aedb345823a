-- Evaluation bulletins (评价通报, issue 13; G-4): a month's or a quarter's
-- dashboard figures with the regulator's commentary. One bulletin a
-- period; a published one never changes: figures holds the dashboard
-- frozen at publication (JSON), and writes to it are refused.
CREATE TABLE oversight_bulletins (
    id           {{id}},
    period       TEXT NOT NULL,
    year         INTEGER NOT NULL,
    number       INTEGER NOT NULL,
    label        TEXT NOT NULL,
    from_day     TEXT NOT NULL,
    to_day       TEXT NOT NULL,
    title        TEXT NOT NULL,
    commentary   TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    figures      TEXT NOT NULL DEFAULT '',
    created_by   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    published_by BIGINT NOT NULL DEFAULT 0,
    published_at BIGINT NOT NULL DEFAULT 0,
    UNIQUE (period, year, number)
);
CREATE INDEX oversight_bulletins_state ON oversight_bulletins(state, published_at);

-- The dashboard's aggregations read the visits of an institution by day.
CREATE INDEX appointments_inst_day ON appointments(institution, day);
