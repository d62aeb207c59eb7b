-- Issue 9, members: when each user last logged in; removed users and deleted service accounts
-- stay as rows (the audit log still names them, their keys still reference them), with the
-- unique email or name replaced by a tombstone no valid email or name can equal, so it can be
-- used again.
ALTER TABLE users ADD COLUMN last_login_at BIGINT;
ALTER TABLE users ADD COLUMN removed_at BIGINT;
ALTER TABLE users ADD COLUMN removed_email TEXT;
ALTER TABLE service_accounts ADD COLUMN deleted_at BIGINT;
