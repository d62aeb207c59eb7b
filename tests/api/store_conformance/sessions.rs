//! Sessions: login, single-use refresh tokens with theft detection, and logout.

use super::fixtures::{IP, LIFETIME, T0, UA, at, events, next_token, refresh, rotated, session, tenant};
use gatekey::domain::audit::action;
use gatekey::domain::ids::SessionId;
use gatekey::domain::time::UnixMs;
use gatekey::store::{RefreshOutcome, Session, Store};

pub(super) async fn starting_a_session_stores_it_and_audits_the_login(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, _) = session(store, &t, false).await;
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(s.clone()));
    let logins = events(store, t.org, action::LOGIN_SUCCEEDED).await;
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].target, format!("session:{}", s.id));
    assert_eq!(store.get_session(SessionId::generate()).await.unwrap(), None);
}

pub(super) async fn a_rotated_token_lives_as_long_as_the_session_asked_for(store: &dyn Store) {
    let t = tenant(store).await;
    for remember_me in [false, true] {
        let (s, token) = session(store, &t, remember_me).await;
        let (out, second) = refresh(store, &token, UA, at(1_000)).await;
        assert_eq!(out, rotated(&s, at(1_000)), "remember_me {remember_me}");
        let RefreshOutcome::Rotated { expires_at, .. } = out else {
            unreachable!()
        };
        // The new token is stored with that expiry: refused from that millisecond on.
        let (out, _) = refresh(store, &second, UA, expires_at).await;
        assert_eq!(out, RefreshOutcome::Expired, "remember_me {remember_me}");
        let just_before = UnixMs(expires_at.0 - 1);
        let (out, _) = refresh(store, &second, UA, just_before).await;
        assert_eq!(out, rotated(&s, just_before), "remember_me {remember_me}");
    }
}

pub(super) async fn a_refresh_token_is_single_use_and_its_reuse_revokes_the_session(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, first_token) = session(store, &t, true).await;

    let (out, second) = refresh(store, &first_token, UA, at(1_000)).await;
    assert_eq!(out, rotated(&s, at(1_000)));
    let (out, third) = refresh(store, &second, UA, at(2_000)).await;
    assert_eq!(out, rotated(&s, at(2_000)), "the token handed out works");

    let (out, thief) = refresh(store, &first_token, UA, at(3_000)).await;
    assert!(matches!(&out, RefreshOutcome::Reused(r) if r.id == s.id), "{out:?}");
    let revoked = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at(3_000)));
    let reused = events(store, t.org, action::REFRESH_TOKEN_REUSED).await;
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0].target, format!("session:{}", s.id));

    // The whole session is gone, the newest token included; the thief got nothing stored.
    let (out, _) = refresh(store, &third, UA, at(4_000)).await;
    assert_eq!(out, RefreshOutcome::SessionRevoked);
    let (out, _) = refresh(store, &thief, UA, at(4_000)).await;
    assert_eq!(out, RefreshOutcome::NotFound);
}

pub(super) async fn a_refresh_from_another_user_agent_is_refused_without_consuming_the_token(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, token) = session(store, &t, false).await;

    let (out, not_issued) = refresh(store, &token, "curl/8.0", at(1_000)).await;
    assert_eq!(out, RefreshOutcome::UserAgentMismatch);
    let audited = events(store, t.org, action::USER_AGENT_MISMATCH).await;
    assert_eq!(audited.len(), 1, "the mismatch is audited");
    assert_eq!(audited[0].target, format!("session:{}", s.id));
    let (out, _) = refresh(store, &not_issued, UA, at(1_500)).await;
    assert_eq!(out, RefreshOutcome::NotFound, "nothing was issued");

    let (out, _) = refresh(store, &token, UA, at(2_000)).await;
    assert_eq!(out, rotated(&s, at(2_000)));
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(s));
}

pub(super) async fn a_refresh_token_is_expired_from_its_expiry_millisecond_on(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, token) = session(store, &t, false).await;
    let expiry = T0.plus(LIFETIME);

    let (out, _) = refresh(store, &token, UA, expiry).await;
    assert_eq!(out, RefreshOutcome::Expired);
    assert_eq!(
        store.get_session(s.id).await.unwrap(),
        Some(s.clone()),
        "the session stays"
    );
    // Refused, not consumed: a millisecond earlier the same token still rotates.
    let just_before = UnixMs(expiry.0 - 1);
    let (out, _) = refresh(store, &token, UA, just_before).await;
    assert_eq!(out, rotated(&s, just_before));
}

pub(super) async fn an_unknown_refresh_token_is_not_found(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, _) = session(store, &t, false).await;
    let (out, _) = refresh(store, &rand::random(), UA, at(1_000)).await;
    assert_eq!(out, RefreshOutcome::NotFound);
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(s));
}

pub(super) async fn refreshing_twice_concurrently_with_one_token_rotates_once(store: &dyn Store) {
    let t = tenant(store).await;
    let now = at(1_000);
    for round in 0..4 {
        let (_, token) = session(store, &t, false).await;
        let (one, two) = (next_token(), next_token());
        let (r1, r2) = tokio::join!(
            store.refresh_session(&token, UA, &one, IP, now),
            store.refresh_session(&token, UA, &two, IP, now),
        );
        let outcomes = [r1.unwrap(), r2.unwrap()];
        let rotated = outcomes.iter().filter(|o| matches!(o, RefreshOutcome::Rotated { .. }));
        assert_eq!(rotated.count(), 1, "round {round}: {outcomes:?}");
        // The loser presented a token that had just been exchanged: the policy's reuse case.
        let reused = outcomes.iter().filter(|o| matches!(o, RefreshOutcome::Reused(_)));
        assert_eq!(reused.count(), 1, "round {round}: {outcomes:?}");
    }
}

pub(super) async fn logging_out_revokes_the_session_once_and_an_unknown_token_is_none(store: &dyn Store) {
    let t = tenant(store).await;
    let (s, token) = session(store, &t, false).await;

    assert_eq!(
        store.revoke_session_by_token(&token, IP, at(1_000)).await.unwrap(),
        Some(s.id)
    );
    let revoked = Session {
        revoked_at: Some(at(1_000)),
        ..s.clone()
    };
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(revoked.clone()));
    let audited = events(store, t.org, action::SESSION_REVOKED).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].target, format!("session:{}", s.id));

    assert_eq!(
        store.revoke_session_by_token(&token, IP, at(2_000)).await.unwrap(),
        Some(s.id)
    );
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(revoked), "left as it was");
    assert_eq!(events(store, t.org, action::SESSION_REVOKED).await.len(), 1);

    assert_eq!(
        store
            .revoke_session_by_token(&rand::random(), IP, at(3_000))
            .await
            .unwrap(),
        None
    );
    let (out, _) = refresh(store, &token, UA, at(4_000)).await;
    assert_eq!(out, RefreshOutcome::SessionRevoked);
}
