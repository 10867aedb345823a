-- Yunyi schema, part 3: the health-IT monitoring monthly report (G-5).

CREATE TABLE monitor_sources (
    id             {{id}},
    name           TEXT NOT NULL,
    media          TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('rss','html')),
    url            TEXT NOT NULL,
    link_selector  TEXT NOT NULL DEFAULT '',
    title_selector TEXT NOT NULL DEFAULT '',
    date_selector  TEXT NOT NULL DEFAULT '',
    body_selector  TEXT NOT NULL DEFAULT '',
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    interval_min   INTEGER NOT NULL DEFAULT 360,
    last_crawl     BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT NOT NULL DEFAULT '',
    last_count     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE monitor_fetch_state (
    url           TEXT PRIMARY KEY,
    etag          TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT ''
);

CREATE TABLE monitor_items (
    id           {{id}},
    source_id    BIGINT NOT NULL DEFAULT 0,
    url          TEXT NOT NULL UNIQUE,
    title        TEXT NOT NULL,
    media        TEXT NOT NULL,
    published    TEXT NOT NULL,
    body         TEXT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    fetched_at   BIGINT NOT NULL,
    score        DOUBLE PRECISION NOT NULL DEFAULT 0,
    terms        TEXT NOT NULL DEFAULT '',
    threshold    DOUBLE PRECISION NOT NULL DEFAULT 0,
    override     INTEGER NOT NULL DEFAULT -1,
    fingerprint  BIGINT NOT NULL DEFAULT 0,
    duplicate_of BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX monitor_items_published ON monitor_items(published);

CREATE TABLE monitor_terms (
    topic  TEXT NOT NULL,
    term   TEXT NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (topic, term)
);

CREATE TABLE monitor_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE monitor_reports (
    id           {{id}},
    number       INTEGER NOT NULL UNIQUE,
    from_day     TEXT NOT NULL,
    to_day       TEXT NOT NULL,
    issue_date   TEXT NOT NULL,
    publisher    TEXT NOT NULL,
    scope        TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'draft',
    published_at BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

CREATE TABLE monitor_report_items (
    report_id BIGINT NOT NULL REFERENCES monitor_reports(id),
    position  INTEGER NOT NULL,
    item_id   BIGINT NOT NULL,
    title     TEXT NOT NULL,
    media     TEXT NOT NULL,
    published TEXT NOT NULL,
    url       TEXT NOT NULL,
    summary   TEXT NOT NULL,
    included  BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (report_id, position)
);
