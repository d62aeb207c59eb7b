-- gatekey schema, MySQL 8 / MariaDB 10.6+. Ids are the 16 UUID bytes (BINARY(16)); times are Unix
-- milliseconds (BIGINT) as on the other backends; JSON values are TEXT written and read by the
-- application. Text compares byte for byte (utf8mb4_bin), as it does on PostgreSQL and SQLite:
-- a case-insensitive collation would make "Acme" and "acme" one org name.

CREATE TABLE orgs (
    id          BINARY(16) PRIMARY KEY,
    name        VARCHAR(255) NOT NULL UNIQUE,
    rate_limit  TEXT,
    created_at  BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE users (
    id             BINARY(16) PRIMARY KEY,
    email          VARCHAR(320) NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE memberships (
    org_id      BINARY(16) NOT NULL,
    user_id     BINARY(16) NOT NULL,
    role        VARCHAR(32) NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id),
    KEY memberships_user (user_id, created_at),
    FOREIGN KEY (org_id) REFERENCES orgs (id),
    FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE service_accounts (
    id          BINARY(16) PRIMARY KEY,
    org_id      BINARY(16) NOT NULL,
    name        VARCHAR(255) NOT NULL,
    role        VARCHAR(32) NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE KEY service_accounts_name (org_id, name),
    FOREIGN KEY (org_id) REFERENCES orgs (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE api_keys (
    id                  BINARY(16) PRIMARY KEY,
    org_id              BINARY(16) NOT NULL,
    service_account_id  BINARY(16) NOT NULL,
    key_hash            VARBINARY(32) NOT NULL UNIQUE,
    pepper_version      INTEGER NOT NULL,
    name                VARCHAR(255) NOT NULL,
    kind                VARCHAR(32) NOT NULL,
    environment         VARCHAR(32) NOT NULL,
    prefix              VARCHAR(64) NOT NULL,
    start               VARCHAR(64) NOT NULL,
    role                VARCHAR(32) NOT NULL,
    scopes              TEXT NOT NULL,
    ip_allowlist        TEXT NOT NULL,
    expires_at          BIGINT,
    rate_limit          TEXT,
    metadata            TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    created_by          VARCHAR(255) NOT NULL,
    last_used_at        BIGINT,
    revoked_at          BIGINT,
    revoked_by          VARCHAR(255),
    rotated_from        BINARY(16),
    rotated_to          BINARY(16),
    KEY api_keys_org (org_id, id),
    KEY api_keys_service_account (service_account_id, id),
    FOREIGN KEY (org_id) REFERENCES orgs (id),
    FOREIGN KEY (service_account_id) REFERENCES service_accounts (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sessions (
    id           BINARY(16) PRIMARY KEY,
    org_id       BINARY(16) NOT NULL,
    user_id      BINARY(16) NOT NULL,
    user_agent   TEXT NOT NULL,
    remember_me  BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    FOREIGN KEY (org_id) REFERENCES orgs (id),
    FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE refresh_tokens (
    token_hash  VARBINARY(32) PRIMARY KEY,
    session_id  BINARY(16) NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    KEY refresh_tokens_session (session_id),
    FOREIGN KEY (session_id) REFERENCES sessions (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Append-only. org_id is NULL only for failed logins of unknown emails.
CREATE TABLE audit_events (
    id           BINARY(16) PRIMARY KEY,
    org_id       BINARY(16),
    actor        VARCHAR(255) NOT NULL,
    action       VARCHAR(64) NOT NULL,
    target       VARCHAR(255) NOT NULL,
    key_prefix   VARCHAR(255) NOT NULL,
    client_ip    VARCHAR(255) NOT NULL,
    occurred_at  BIGINT NOT NULL,
    details      TEXT NOT NULL,
    KEY audit_events_org (org_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE signing_keys (
    kid           VARCHAR(64) PRIMARY KEY,
    public_key    VARBINARY(64) NOT NULL,
    created_at    BIGINT NOT NULL,
    activates_at  BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The change feed: every replica applies the rows newer than the last seq it saw. There is no
-- NOTIFY here; followers poll.
CREATE TABLE changes (
    seq         BIGINT AUTO_INCREMENT PRIMARY KEY,
    kind        VARCHAR(32) NOT NULL,
    subject     VARCHAR(64) NOT NULL,
    org_id      BINARY(16),
    created_at  BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
