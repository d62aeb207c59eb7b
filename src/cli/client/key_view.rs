//! How an API key is shown: a table row, a detail view, and its JSON object.

use super::output::{
    Table, human_duration, human_enum, human_map, human_time, json_duration, json_enum, json_map, json_time, or_dash,
    write_fields,
};
use crate::proto::v1::{ApiKey, Environment, KeyKind, KeyStatus, Role};
use serde_json::{Value, json};
use std::io::{self, Write};

fn kind_name(key: &ApiKey) -> Option<&'static str> {
    KeyKind::try_from(key.kind).ok().map(|k| k.as_str_name())
}

fn environment_name(key: &ApiKey) -> Option<&'static str> {
    Environment::try_from(key.environment).ok().map(|e| e.as_str_name())
}

fn status_name(key: &ApiKey) -> Option<&'static str> {
    KeyStatus::try_from(key.status).ok().map(|s| s.as_str_name())
}

fn role_name(key: &ApiKey) -> Option<&'static str> {
    Role::try_from(key.role).ok().map(|r| r.as_str_name())
}

/// The key's recognisable part, e.g. `sk_live_AbCd…`; never the secret.
fn display_key(key: &ApiKey) -> String {
    format!("{}{}…", key.prefix, key.start)
}

fn rate_limit(key: &ApiKey) -> String {
    key.rate_limit.as_ref().map_or_else(
        || "org default".to_owned(),
        |r| format!("{}/{} (burst {})", r.limit, human_duration(r.window.as_ref()), r.burst),
    )
}

/// One row per key: id, name, prefix and start, status, environment, scopes, expiry and
/// last use.
pub fn table<'a>(keys: impl IntoIterator<Item = &'a ApiKey>) -> Table {
    let mut table = Table::new(&["ID", "NAME", "KEY", "STATUS", "ENV", "SCOPES", "EXPIRES", "LAST USED"]);
    for key in keys {
        table.row([
            key.id.clone(),
            key.name.clone(),
            display_key(key),
            human_enum(status_name(key), "KEY_STATUS_", key.status),
            human_enum(environment_name(key), "ENVIRONMENT_", key.environment),
            or_dash(key.scopes.join(",")),
            human_time(key.expires_at.as_ref(), "never"),
            human_time(key.last_used_at.as_ref(), "never"),
        ]);
    }
    table
}

/// Every field of one key, one per line.
pub fn write_details(out: &mut impl Write, key: &ApiKey) -> io::Result<()> {
    write_fields(
        out,
        &[
            ("id", key.id.clone()),
            ("name", key.name.clone()),
            ("key", display_key(key)),
            ("status", human_enum(status_name(key), "KEY_STATUS_", key.status)),
            ("kind", human_enum(kind_name(key), "KEY_KIND_", key.kind)),
            (
                "environment",
                human_enum(environment_name(key), "ENVIRONMENT_", key.environment),
            ),
            ("role", human_enum(role_name(key), "ROLE_", key.role)),
            ("service account", or_dash(key.service_account_id.clone())),
            ("org", or_dash(key.org_id.clone())),
            ("scopes", or_dash(key.scopes.join(", "))),
            ("ip allowlist", or_dash(key.ip_allowlist.join(", "))),
            ("rate limit", rate_limit(key)),
            ("metadata", human_map(&key.metadata)),
            ("expires", human_time(key.expires_at.as_ref(), "never")),
            ("created", human_time(key.created_at.as_ref(), "-")),
            ("created by", or_dash(key.created_by.clone())),
            ("last used", human_time(key.last_used_at.as_ref(), "never")),
            ("revoked", human_time(key.revoked_at.as_ref(), "-")),
            ("revoked by", or_dash(key.revoked_by.clone())),
            ("disabled", human_time(key.disabled_at.as_ref(), "-")),
            ("pair", or_dash(key.pair_id.clone())),
            ("rotated from", or_dash(key.rotated_from.clone())),
        ],
    )
}

/// The key as JSON with its proto field names.
pub fn to_json(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "org_id": key.org_id,
        "service_account_id": key.service_account_id,
        "name": key.name,
        "kind": json_enum(kind_name(key), "KEY_KIND_", key.kind),
        "environment": json_enum(environment_name(key), "ENVIRONMENT_", key.environment),
        "prefix": key.prefix,
        "start": key.start,
        "scopes": key.scopes,
        "ip_allowlist": key.ip_allowlist,
        "expires_at": json_time(key.expires_at.as_ref()),
        "status": json_enum(status_name(key), "KEY_STATUS_", key.status),
        "rate_limit": key.rate_limit.as_ref().map(|r| json!({
            "limit": r.limit,
            "window": json_duration(r.window.as_ref()),
            "burst": r.burst,
        })),
        "metadata": json_map(&key.metadata),
        "created_at": json_time(key.created_at.as_ref()),
        "last_used_at": json_time(key.last_used_at.as_ref()),
        "revoked_at": json_time(key.revoked_at.as_ref()),
        "rotated_from": key.rotated_from,
        "created_by": key.created_by,
        "revoked_by": key.revoked_by,
        "role": json_enum(role_name(key), "ROLE_", key.role),
        "pair_id": key.pair_id,
        "disabled_at": json_time(key.disabled_at.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey {
            id: "k1".into(),
            name: "billing".into(),
            prefix: "sk_live_".into(),
            start: "AbCd".into(),
            status: KeyStatus::Active as i32,
            environment: Environment::Live as i32,
            kind: KeyKind::Secret as i32,
            scopes: vec!["invoices.read".into(), "invoices.write".into()],
            ..ApiKey::default()
        }
    }

    #[test]
    fn the_table_shows_prefix_and_start_but_nothing_else_of_the_key() -> anyhow::Result<()> {
        let mut out = Vec::new();
        table([&key()]).write(&mut out)?;
        let text = String::from_utf8(out)?;
        assert!(text.contains("sk_live_AbCd…"), "{text}");
        assert!(
            text.contains("active  live  invoices.read,invoices.write  never"),
            "{text}"
        );
        Ok(())
    }

    #[test]
    fn json_uses_the_words_of_the_table() {
        let json = to_json(&key());
        assert_eq!(json["kind"], "secret");
        assert_eq!(json["status"], "active");
        assert_eq!(json["environment"], "live");
        assert_eq!(json["expires_at"], Value::Null);
        assert_eq!(json["rate_limit"], Value::Null);
    }
}
