-- Scopes each role grants to users' access tokens in one org; absent rows mean the defaults.
CREATE TABLE role_scopes (
    org_id      UUID NOT NULL REFERENCES orgs (id),
    role        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, role)
);
