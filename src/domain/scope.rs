//! Scopes such as `cameras.read` or `leads.lead.write`; a trailing `*` segment is a wildcard.

use super::FieldViolation;

/// Longest accepted scope string.
pub const MAX_SCOPE_LEN: usize = 128;
/// Most scopes one key may carry.
pub const MAX_SCOPES: usize = 64;

/// A validated scope: lowercase segments of `[a-z0-9_-]` separated by `.` or `:`, where only
/// the last segment may be `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let bad = |why: &str| FieldViolation::new(field, format!("scope {raw:?} {why}"));
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "scope must not be empty"));
        }
        if raw.len() > MAX_SCOPE_LEN {
            return Err(FieldViolation::new(
                field,
                format!("scope must be at most {MAX_SCOPE_LEN} characters"),
            ));
        }
        let segments: Vec<&str> = raw.split(['.', ':']).collect();
        let last = segments.len() - 1;
        for (i, seg) in segments.iter().enumerate() {
            if seg.is_empty() {
                return Err(bad("has an empty segment"));
            }
            if *seg == "*" {
                if i != last {
                    return Err(bad("may use `*` only as its last segment"));
                }
                continue;
            }
            let ok = seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
            if !ok {
                return Err(bad(
                    "may contain only a-z, 0-9, `_`, `-`, and `.` or `:` between segments",
                ));
            }
        }
        Ok(Scope(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.ends_with('*')
    }

    /// Read scopes end in `.read` or `:read`; only these may go on a publishable key.
    pub fn is_read_only(&self) -> bool {
        self.0.ends_with(".read") || self.0.ends_with(":read")
    }

    /// Whether holding `self` grants `required`.
    pub fn grants(&self, required: &str) -> bool {
        match self.0.strip_suffix('*') {
            // `*` alone grants everything; `a.b.*` grants `a.b.` followed by anything non-empty.
            Some(stem) => required.len() > stem.len() && required.starts_with(stem),
            None => self.0 == required,
        }
    }
}

/// A validated, de-duplicated set of scopes, kept sorted for stable output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn parse(field: &str, raw: &[String]) -> Result<Self, FieldViolation> {
        if raw.len() > MAX_SCOPES {
            return Err(FieldViolation::new(field, format!("at most {MAX_SCOPES} scopes")));
        }
        let mut scopes = raw
            .iter()
            .map(|s| Scope::parse(field, s))
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(Scopes(scopes))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.0.clone()).collect()
    }

    /// True when every scope is a read scope (the rule for publishable keys).
    pub fn all_read_only(&self) -> bool {
        self.0.iter().all(Scope::is_read_only)
    }

    /// Whether any held scope grants `required`.
    pub fn grants(&self, required: &str) -> bool {
        self.0.iter().any(|s| s.grants(required))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        Scope::parse("scopes", s).expect("valid scope")
    }

    #[test]
    fn accepts_dotted_and_colon_scopes() {
        for s in [
            "cameras.read",
            "leads.lead.write",
            "billing:read",
            "a",
            "cameras.*",
            "*",
        ] {
            assert!(Scope::parse("scopes", s).is_ok(), "{s}");
        }
    }

    #[test]
    fn rejects_malformed_scopes() {
        for s in ["", "Cameras.read", "a..b", "a.*.b", "a b", ".a", "a.", "a\0b", "é.read"] {
            assert!(Scope::parse("scopes", s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn wildcards_grant_by_prefix_only() {
        assert!(scope("cameras.*").grants("cameras.read"));
        assert!(scope("cameras.*").grants("cameras.feed.write"));
        assert!(!scope("cameras.*").grants("cameras"));
        assert!(!scope("cameras.*").grants("camerasx.read"));
        assert!(scope("*").grants("anything.write"));
        assert!(scope("cameras.read").grants("cameras.read"));
        assert!(!scope("cameras.read").grants("cameras.write"));
    }

    #[test]
    fn read_only_means_ending_in_read() {
        assert!(scope("cameras.read").is_read_only());
        assert!(scope("billing:read").is_read_only());
        assert!(!scope("cameras.*").is_read_only());
        assert!(!scope("cameras.readwrite").is_read_only());
    }
}
