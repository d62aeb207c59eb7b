//! Pure types and rules, no I/O. A value of one of these types has passed validation.

pub mod api_key;
pub mod audit;
pub mod credential;
pub mod fields;
pub mod ids;
pub mod ip;
pub mod key_format;
pub mod rate_limit;
pub mod role;
pub mod scope;
pub mod time;
pub mod verify;

/// A rejected input value: the request field it came from and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {description}")]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Rejects NUL bytes, which PostgreSQL cannot store in text and which no legitimate value carries.
pub(crate) fn reject_nul(field: &str, value: &str) -> Result<(), FieldViolation> {
    if value.contains('\0') {
        return Err(FieldViolation::new(field, "must not contain NUL bytes"));
    }
    Ok(())
}
