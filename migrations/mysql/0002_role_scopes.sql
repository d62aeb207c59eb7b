-- Scopes each role grants to users' access tokens in one org; absent rows mean the defaults.
CREATE TABLE role_scopes (
    org_id      BINARY(16) NOT NULL,
    role        VARCHAR(32) NOT NULL,
    scopes      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, role),
    FOREIGN KEY (org_id) REFERENCES orgs (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
