-- gatekey schema, SQLite (BLOB ids hold the 16 UUID bytes). Times are Unix milliseconds (BIGINT) so both backends compare
-- the same integers; JSON values are TEXT written and read by the application.

CREATE TABLE orgs (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    rate_limit  TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    user_id     BLOB NOT NULL REFERENCES users (id),
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, created_at);

CREATE TABLE service_accounts (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE api_keys (
    id                  BLOB PRIMARY KEY,
    org_id              BLOB NOT NULL REFERENCES orgs (id),
    service_account_id  BLOB NOT NULL REFERENCES service_accounts (id),
    key_hash            BLOB NOT NULL UNIQUE,
    pepper_version      INTEGER NOT NULL,
    name                TEXT NOT NULL,
    kind                TEXT NOT NULL,
    environment         TEXT NOT NULL,
    prefix              TEXT NOT NULL,
    start               TEXT NOT NULL,
    role                TEXT NOT NULL,
    scopes              TEXT NOT NULL,
    ip_allowlist        TEXT NOT NULL,
    expires_at          BIGINT,
    rate_limit          TEXT,
    metadata            TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    created_by          TEXT NOT NULL,
    last_used_at        BIGINT,
    revoked_at          BIGINT,
    revoked_by          TEXT,
    rotated_from        BLOB,
    rotated_to          BLOB
);
CREATE INDEX api_keys_org ON api_keys (org_id, id);
CREATE INDEX api_keys_service_account ON api_keys (service_account_id, id);

CREATE TABLE sessions (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    user_id      BLOB NOT NULL REFERENCES users (id),
    user_agent   TEXT NOT NULL,
    remember_me  INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY,
    session_id  BLOB NOT NULL REFERENCES sessions (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Append-only. org_id is NULL only for failed logins of unknown emails.
CREATE TABLE audit_events (
    id           BLOB PRIMARY KEY,
    org_id       BLOB,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    key_prefix   TEXT NOT NULL,
    client_ip    TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    details      TEXT NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    public_key    BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    activates_at  BIGINT NOT NULL
);

-- The change feed: every replica applies the rows newer than the last seq it saw.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    org_id      BLOB,
    created_at  BIGINT NOT NULL
);
