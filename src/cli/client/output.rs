//! Output shared by the commands: aligned tables for people, one JSON document for scripts.
//! JSON keeps the proto field names; enum values are the lowercase words the tables show
//! (`active`, `operator`); timestamps are RFC 3339 and absent ones `null`.

use super::error::printable;
use crate::proto::v1::{RateLimitPolicy, Role};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{self, Write};

/// Writes `value` as one pretty-printed JSON document.
pub fn json(out: &mut impl Write, value: &Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Columns of text, each as wide as its widest cell.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; control characters in the cells are escaped.
    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        self.rows.push(cells.into_iter().map(|c| printable(&c)).collect());
    }

    /// Writes the table, two spaces between columns and no trailing whitespace.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let headers = self.headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Label/value lines for a single object, labels aligned.
pub fn write_fields(out: &mut impl Write, fields: &[(&str, String)]) -> io::Result<()> {
    let width = fields.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    for (label, value) in fields {
        let line = format!(
            "{:width$}  {}",
            format!("{label}:"),
            printable(value),
            width = width + 1
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes the page token for the next page, if there is one.
pub fn write_next_page(out: &mut impl Write, token: &str) -> io::Result<()> {
    if token.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nmore results: --page-token {}", printable(token))
}

/// A proto timestamp as a UTC time; `None` when unset or out of range.
pub fn time(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

/// A timestamp for a table cell, `none` when unset.
pub fn human_time(ts: Option<&prost_types::Timestamp>, none: &str) -> String {
    time(ts).map_or_else(|| none.to_owned(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A timestamp for JSON: RFC 3339, or `null` when unset.
pub fn json_time(ts: Option<&prost_types::Timestamp>) -> Value {
    time(ts).map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    })
}

/// A proto duration in its JSON form, e.g. `"60s"`.
pub fn json_duration(d: Option<&prost_types::Duration>) -> Value {
    d.map_or(Value::Null, |d| {
        Value::String(if d.nanos == 0 {
            format!("{}s", d.seconds)
        } else {
            format!("{}.{:09}s", d.seconds, d.nanos.unsigned_abs())
        })
    })
}

/// A proto duration for people, e.g. `1m` or `90s`.
pub fn human_duration(d: Option<&prost_types::Duration>) -> String {
    match d.map(|d| d.seconds) {
        None => "-".to_owned(),
        Some(s) if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        Some(s) if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        Some(s) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

/// An enum value for JSON: the word the table shows, or the number when this client does not
/// know the value.
pub fn json_enum(name: Option<&'static str>, prefix: &str, value: i32) -> Value {
    match name {
        Some(_) => json!(human_enum(name, prefix, value)),
        None => json!(value),
    }
}

/// An enum value for people: the proto name without its type prefix, lower-cased.
pub fn human_enum(name: Option<&'static str>, prefix: &str, value: i32) -> String {
    name.map_or_else(
        || value.to_string(),
        |n| n.strip_prefix(prefix).unwrap_or(n).to_ascii_lowercase(),
    )
}

/// A role as the tables show it, e.g. `operator`.
pub fn human_role(role: i32) -> String {
    let name = Role::try_from(role).ok().map(|r| r.as_str_name());
    human_enum(name, "ROLE_", role)
}

/// A role for JSON: the same word as [`human_role`].
pub fn json_role(role: i32) -> Value {
    let name = Role::try_from(role).ok().map(|r| r.as_str_name());
    json_enum(name, "ROLE_", role)
}

/// A rate-limit policy as JSON, `null` when unset.
pub fn json_policy(policy: Option<&RateLimitPolicy>) -> Value {
    policy.map_or(
        Value::Null,
        |p| json!({ "limit": p.limit, "window": json_duration(p.window.as_ref()), "burst": p.burst }),
    )
}

/// A rate-limit policy for people, e.g. `100/1m (burst 10)`; `none` when unset.
pub fn human_policy(policy: Option<&RateLimitPolicy>, none: &str) -> String {
    policy.map_or_else(
        || none.to_owned(),
        |p| format!("{}/{} (burst {})", p.limit, human_duration(p.window.as_ref()), p.burst),
    )
}

/// A string map as a JSON object with sorted keys, so output is stable.
pub fn json_map(map: &HashMap<String, String>) -> Value {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort();
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// A string map as `k=v, k=v`, sorted; `-` when empty.
pub fn human_map(map: &HashMap<String, String>) -> String {
    let mut entries: Vec<_> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
    entries.sort();
    or_dash(entries.join(", "))
}

/// `-` for an empty cell, so columns stay readable.
pub fn or_dash(text: String) -> String {
    if text.is_empty() { "-".to_owned() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_without_trailing_spaces() -> anyhow::Result<()> {
        let mut table = Table::new(&["ID", "NAME"]);
        table.row(["k1".to_owned(), "billing".to_owned()]);
        table.row(["key-22".to_owned(), "x\ny".to_owned()]);
        let mut out = Vec::new();
        table.write(&mut out)?;
        assert_eq!(
            String::from_utf8(out)?,
            "ID      NAME\nk1      billing\nkey-22  x\\ny\n"
        );
        Ok(())
    }

    #[test]
    fn timestamps_and_durations_have_their_json_forms() {
        let ts = prost_types::Timestamp {
            seconds: 1_893_456_000,
            nanos: 0,
        };
        assert_eq!(json_time(Some(&ts)), json!("2030-01-01T00:00:00Z"));
        assert_eq!(json_time(None), Value::Null);
        let d = prost_types::Duration { seconds: 60, nanos: 0 };
        assert_eq!(json_duration(Some(&d)), json!("60s"));
        assert_eq!(human_duration(Some(&d)), "1m");
    }

    #[test]
    fn enums_read_as_names() {
        assert_eq!(human_enum(Some("KEY_STATUS_ACTIVE"), "KEY_STATUS_", 1), "active");
        assert_eq!(human_enum(None, "KEY_STATUS_", 9), "9");
        assert_eq!(json_enum(Some("ROLE_OPERATOR"), "ROLE_", 2), json!("operator"));
        assert_eq!(json_enum(None, "ROLE_", 9), json!(9));
    }
}

/// `--page-size` and `--page-token`, shared by every list command.
#[derive(Debug, clap::Args)]
pub struct PageArgs {
    /// Items per page. Default: the server's.
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
    /// Token printed by the previous page.
    #[arg(long, value_name = "TOKEN")]
    pub page_token: Option<String>,
}

impl PageArgs {
    /// The request's page size; 0 asks for the server's default.
    pub fn size(&self) -> u32 {
        self.page_size.unwrap_or(0)
    }

    pub fn token(&self) -> String {
        self.page_token.clone().unwrap_or_default()
    }
}
