//! The contract of `gatekey::store::Store`, proved on every backend.
//!
//! Each check is one documented contract written against `&dyn Store`; `conformance!` turns
//! it into `sqlite::<check>`, `postgres::<check>` and `mysql::<check>`, as OpenFGA's
//! `RunAllTests` does, so no backend can pass by being tested less. Every test gets a database of its own.
//! Times are fixed offsets from `T0`, so expiry edges are exact to the millisecond.
//!
//! The table below lists every check by topic file. The few whose expected outcome depends on
//! the backend (a capability one has and the other lacks) come after the `;` and are told
//! which backend they run on.

mod audit;
mod feed;
mod fixtures;
mod key_lifecycle;
mod keys;
mod limits;
mod members;
mod orgs;
mod sessions;
mod usage;

/// The backend a check runs on, for the checks that expect different capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// One `#[tokio::test]` per check and backend. A server twin is skipped (loudly) only when its
/// variable (`GATEKEY_TEST_POSTGRES_URL`, `GATEKEY_TEST_MYSQL_URL`) is unset; once it is set,
/// any failure fails the test.
macro_rules! conformance {
    (
        $($topic:ident: [$($check:ident),+ $(,)?]),+;
        $($by_backend_topic:ident: [$($by_backend:ident),+ $(,)?]),+ $(,)?
    ) => {
        mod sqlite {
            $($(conformance!(@sqlite $check, store => super::$topic::$check(store));)+)+
            $($(conformance!(
                @sqlite $by_backend,
                store => super::$by_backend_topic::$by_backend(store, super::Backend::Sqlite)
            );)+)+
        }

        mod postgres {
            $($(conformance!(@server Postgres, $check, store => super::$topic::$check(store));)+)+
            $($(conformance!(
                @server Postgres, $by_backend,
                store => super::$by_backend_topic::$by_backend(store, super::Backend::Postgres)
            );)+)+
        }

        mod mysql {
            $($(conformance!(@server MySql, $check, store => super::$topic::$check(store));)+)+
            $($(conformance!(
                @server MySql, $by_backend,
                store => super::$by_backend_topic::$by_backend(store, super::Backend::MySql)
            );)+)+
        }
    };

    (@sqlite $name:ident, $store:ident => $check:expr) => {
        #[tokio::test]
        async fn $name() {
            let (shared, _dir) = crate::support::db::sqlite_store().await;
            let $store = &*shared;
            $check.await;
            shared.close().await;
        }
    };

    (@server $server:ident, $name:ident, $store:ident => $check:expr) => {
        #[tokio::test]
        async fn $name() {
            let server = crate::support::db::Server::$server;
            let Some((shared, db)) = crate::support::db::server_store(server).await else {
                eprintln!("skipped {}: {} is unset", stringify!($name), server.var());
                return;
            };
            let $store = &*shared;
            $check.await;
            shared.close().await;
            drop(db);
        }
    };
}

conformance! {
    orgs: [
        migrating_again_changes_nothing,
        creating_an_org_audits_the_org_and_its_owner,
        a_taken_org_name_conflicts_and_creates_nothing,
        a_taken_owner_email_conflicts_and_creates_nothing,
        a_login_is_found_by_the_parsed_email_with_hash_and_role,
        a_member_of_another_org_is_not_found,
        creating_a_user_adds_a_member_and_a_taken_email_conflicts,
        a_service_account_name_is_unique_within_its_org_only,
        a_service_account_of_another_org_is_not_found,
        service_accounts_are_listed_in_creation_order_a_page_at_a_time,
    ],
    keys: [
        an_inserted_key_reads_back_with_every_field,
        a_key_of_another_org_is_not_found,
        a_key_is_found_by_its_hash_in_any_org_and_state,
        keys_are_listed_in_creation_order_per_service_account_a_page_at_a_time,
        revoking_a_key_records_who_and_when_exactly_once,
        another_orgs_key_cannot_be_revoked_rotated_or_deleted,
        rotating_without_overlap_revokes_the_old_key_at_once,
        rotating_with_overlap_expires_the_old_key_at_the_given_time,
        a_revoked_expired_or_rotated_key_cannot_be_rotated,
        rotating_a_key_twice_concurrently_succeeds_once,
        only_a_revoked_key_can_be_deleted_and_its_history_stays,
    ],
    key_lifecycle: [
        disabling_a_key_records_when_once_and_enabling_clears_it,
        a_revoked_key_can_be_neither_disabled_nor_enabled,
        another_orgs_key_cannot_be_disabled_or_enabled,
        a_disabled_key_cannot_be_rotated,
        a_pair_is_inserted_and_listed_together_with_an_event_per_key,
        a_pair_whose_second_key_fails_inserts_nothing,
        rotating_a_pair_replaces_both_keys_or_neither,
        rotating_a_pair_from_either_side_at_once_succeeds_once,
    ],
    usage: [
        touching_keys_raises_last_used_at_and_never_lowers_it,
        touching_nothing_or_an_unknown_key_changes_nothing,
        a_key_named_twice_in_one_batch_keeps_the_later_time,
    ],
    sessions: [
        starting_a_session_stores_it_and_audits_the_login,
        a_rotated_token_lives_as_long_as_the_session_asked_for,
        a_refresh_token_is_single_use_and_its_reuse_revokes_the_session,
        a_refresh_from_another_user_agent_is_refused_without_consuming_the_token,
        a_refresh_token_is_expired_from_its_expiry_millisecond_on,
        an_unknown_refresh_token_is_not_found,
        refreshing_twice_concurrently_with_one_token_rotates_once,
        logging_out_revokes_the_session_once_and_an_unknown_token_is_none,
    ],
    audit: [
        audit_events_are_listed_newest_first_by_action_a_page_at_a_time,
        an_audit_event_without_an_org_is_kept_but_listed_under_no_org,
        signing_keys_are_listed_oldest_first,
    ],
    limits: [
        an_org_rate_limit_is_none_until_set_and_then_reads_back_exactly,
        setting_the_org_rate_limit_audits_it_and_records_an_org_change,
        a_key_rate_limit_override_reads_back_and_none_removes_it,
        setting_a_key_rate_limit_audits_it_and_records_a_key_change,
        another_orgs_key_rate_limit_cannot_be_set,
        role_scopes_are_kept_per_org_and_role_and_the_last_setting_wins,
        setting_role_scopes_audits_it_and_records_an_org_change,
    ],
    feed: [
        an_empty_feed_ends_at_zero,
        changes_are_read_in_order_after_a_given_seq_a_limit_at_a_time,
        revoking_rotating_and_deleting_a_key_each_record_a_key_change,
        a_call_that_changes_nothing_records_no_change,
        logging_out_and_reusing_a_refresh_token_record_a_session_change,
    ],
    members: [
        members_are_listed_in_creation_order_with_their_last_login,
        a_role_change_is_audited_and_refused_above_the_caller_or_for_the_last_owner,
        demoting_the_last_two_owners_concurrently_leaves_one,
        removing_a_member_ends_their_sessions_frees_the_email_and_keeps_them_in_the_log,
        a_password_change_ends_the_other_sessions_only_when_the_hash_is_still_current,
        deleting_a_service_account_revokes_its_keys_and_frees_its_name,
        audit_entries_filter_by_actor_and_target_and_name_the_actor,
    ];
    feed: [
        followers_are_woken_by_notify_on_postgres_and_poll_elsewhere,
    ],
}
