-- Health education for the public (W-6, issue 14): an institution's short
-- articles per specialty (title, body and where they come from), listed
-- publicly, and the ones a visit's doctor attached to the visit's advice
-- for the family to read.
CREATE TABLE education_articles (
    id          {{id}},
    institution TEXT NOT NULL REFERENCES institutions(code),
    specialty   TEXT NOT NULL,
    title       TEXT NOT NULL,
    title_en    TEXT NOT NULL DEFAULT '',
    body        TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX education_articles_institution ON education_articles(institution, specialty, id);

-- The articles attached to a visit (same id as its appointment), each
-- once, numbered in the order attached (position).
CREATE TABLE visit_education (
    visit_id    BIGINT NOT NULL REFERENCES appointments(id),
    article_id  BIGINT NOT NULL REFERENCES education_articles(id),
    position    INTEGER NOT NULL,
    attached_by BIGINT NOT NULL,
    attached_at BIGINT NOT NULL,
    PRIMARY KEY (visit_id, article_id)
);
