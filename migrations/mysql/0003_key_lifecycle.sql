-- Key lifecycle (issue 9): a reversible suspension, and the pair a key was issued in.
-- `disabled_at` is set while a key is disabled; `pair_id` links the publishable and the secret
-- key of one IssueKeyPair, and their replacements, across rotations.
ALTER TABLE api_keys
    ADD COLUMN disabled_at BIGINT,
    ADD COLUMN pair_id BINARY(16),
    ADD KEY api_keys_pair (pair_id);
