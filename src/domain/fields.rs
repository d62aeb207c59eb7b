//! Validated request values: names, emails, passwords and metadata.

use super::{FieldViolation, reject_nul};

use secrecy::SecretString;
use std::collections::BTreeMap;

/// Longest key name, in characters.
pub const MAX_KEY_NAME: usize = 32;
/// Longest org or service-account name, in characters.
pub const MAX_NAME: usize = 64;
/// argon2 input is capped so a huge password cannot be used to burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_METADATA_ENTRIES: usize = 32;
pub const MAX_METADATA_KEY: usize = 64;
pub const MAX_METADATA_VALUE: usize = 512;
pub const MAX_METADATA_BYTES: usize = 4096;

fn bounded_name(field: &str, raw: &str, max: usize) -> Result<String, FieldViolation> {
    reject_nul(field, raw)?;
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(FieldViolation::new(field, "must not be empty"));
    }
    if chars > max {
        return Err(FieldViolation::new(field, format!("must be at most {max} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldViolation::new(field, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// An API key's name: 1-32 characters of any script, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        bounded_name(field, raw, MAX_KEY_NAME).map(KeyName)
    }

    /// The name of a key rotated from one called `self`, as the seeds show it: `prod` becomes
    /// `prod 260601` (a space, the date as YYMMDD), cut to 32 characters from the end of the
    /// original name so the date survives.
    pub fn rotated(&self, yymmdd: &str) -> KeyName {
        let suffix = format!(" {yymmdd}");
        let keep = MAX_KEY_NAME.saturating_sub(suffix.chars().count());
        let stem: String = self.0.chars().take(keep).collect();
        KeyName(format!("{}{suffix}", stem.trim_end()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a name read back from the store, where it was validated on the way in.
    pub fn from_store(name: String) -> Self {
        KeyName(name)
    }

    /// The names of a pair's keys, `<name> (publishable)` and `<name> (secret)`. The base name
    /// is refused when a suffixed name would pass 32 characters: cutting it would give two
    /// pairs names nobody chose.
    pub fn pair(field: &str, raw: &str) -> Result<(KeyName, KeyName), FieldViolation> {
        let base = Self::parse(field, raw)?;
        let longest = PAIR_SUFFIXES.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        let most = MAX_KEY_NAME.saturating_sub(longest);
        if base.0.chars().count() > most {
            return Err(FieldViolation::new(
                field,
                format!(
                    "at most {most} characters for a key pair (each key's name gets ` (publishable)` or ` (secret)`)"
                ),
            ));
        }
        let [publishable, secret] = PAIR_SUFFIXES.map(|suffix| KeyName(format!("{}{suffix}", base.0)));
        Ok((publishable, secret))
    }
}

/// What a pair's key names add to the requested name: publishable, then secret.
const PAIR_SUFFIXES: [&str; 2] = [" (publishable)", " (secret)"];

/// An org or service-account name: 1-64 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        bounded_name(field, raw, MAX_NAME).map(Name)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, trimmed and lower-cased so that uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        reject_nul(field, raw)?;
        let email = raw.trim().to_lowercase();
        let bad = || FieldViolation::new(field, "must be an email address like name@example.com");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        match email.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {
                Ok(Email(email))
            }
            _ => Err(bad()),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as presented at login: at most 1 KiB, never logged.
pub struct Password(SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// For login: only the size cap, so the policy for new passwords is not revealed.
    pub fn presented(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        reject_nul(field, raw)?;
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(FieldViolation::new(
                field,
                format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
            ));
        }
        Ok(Password(SecretString::from(raw.to_owned())))
    }

    /// For a new password: the size cap and a minimum length.
    pub fn new_password(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let pw = Self::presented(field, raw)?;
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(FieldViolation::new(
                field,
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            ));
        }
        Ok(pw)
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// Free-form string metadata on a key, bounded in entries and bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    pub fn parse<'a>(
        field: &str,
        raw: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, FieldViolation> {
        let mut map = BTreeMap::new();
        let mut total = 0usize;
        for (k, v) in raw {
            // Gateways copy metadata into headers: no CR/LF or other control characters.
            if k.chars().chain(v.chars()).any(char::is_control) {
                return Err(FieldViolation::new(field, "must not contain control characters"));
            }
            if k.is_empty() || k.len() > MAX_METADATA_KEY {
                return Err(FieldViolation::new(
                    field,
                    format!("keys must be 1-{MAX_METADATA_KEY} bytes"),
                ));
            }
            if v.len() > MAX_METADATA_VALUE {
                return Err(FieldViolation::new(
                    field,
                    format!("values must be at most {MAX_METADATA_VALUE} bytes"),
                ));
            }
            total += k.len() + v.len();
            map.insert(k.clone(), v.clone());
        }
        if map.len() > MAX_METADATA_ENTRIES {
            return Err(FieldViolation::new(
                field,
                format!("at most {MAX_METADATA_ENTRIES} entries"),
            ));
        }
        if total > MAX_METADATA_BYTES {
            return Err(FieldViolation::new(
                field,
                format!("at most {MAX_METADATA_BYTES} bytes in all"),
            ));
        }
        Ok(Metadata(map))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn from_store(map: BTreeMap<String, String>) -> Self {
        Metadata(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_trimmed_unicode_and_bounded() {
        assert_eq!(KeyName::parse("name", "  カメラ  ").expect("ok").as_str(), "カメラ");
        assert!(KeyName::parse("name", &"é".repeat(32)).is_ok());
        assert!(KeyName::parse("name", &"é".repeat(33)).is_err());
        assert!(KeyName::parse("name", "   ").is_err());
        assert!(KeyName::parse("name", "a\0b").is_err());
    }

    #[test]
    fn pair_names_carry_their_kind_and_stay_within_32_characters() {
        let (pk, sk) = KeyName::pair("name", " shop ").expect("ok");
        assert_eq!((pk.as_str(), sk.as_str()), ("shop (publishable)", "shop (secret)"));
        let (longest, _) = KeyName::pair("name", &"x".repeat(18)).expect("ok");
        assert_eq!(longest.as_str().chars().count(), 32);
        let err = KeyName::pair("name", &"x".repeat(19)).expect_err("too long");
        assert_eq!(err.field, "name");
    }

    #[test]
    fn rotated_names_keep_the_date_within_32_characters() {
        let long = KeyName::parse("name", &"x".repeat(32)).expect("ok");
        let rotated = long.rotated("261122");
        assert_eq!(rotated.as_str().chars().count(), 32);
        assert!(rotated.as_str().ends_with("x 261122"));
        assert_eq!(
            KeyName::parse("name", "prod").expect("ok").rotated("260601").as_str(),
            "prod 260601"
        );
    }

    #[test]
    fn emails_need_an_at_sign_and_are_lowercased() {
        assert_eq!(Email::parse("email", " A@B.io ").expect("ok").as_str(), "a@b.io");
        for bad in ["ab.io", "@b.io", "a@", "a b@c.io", "a@b@c"] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_capped_at_one_kib() {
        assert!(Password::presented("password", &"p".repeat(1024)).is_ok());
        assert!(Password::presented("password", &"p".repeat(1025)).is_err());
        assert!(Password::new_password("password", "short").is_err());
    }

    #[test]
    fn metadata_is_bounded() {
        let big: BTreeMap<String, String> = (0..40).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(Metadata::parse("metadata", big.iter()).is_err());
        let long_value: BTreeMap<String, String> = [("k".into(), "v".repeat(600))].into();
        assert!(Metadata::parse("metadata", long_value.iter()).is_err());
        let header_injection: BTreeMap<String, String> = [("k".into(), "a\r\nX-Admin: 1".into())].into();
        assert!(Metadata::parse("metadata", header_injection.iter()).is_err());
    }
}
