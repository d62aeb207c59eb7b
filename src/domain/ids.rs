//! Typed identifiers, so an org id can never be passed where a key id is expected.

use super::FieldViolation;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id, so that id order is creation order (used for paging).
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the id of a request field; the error names the field.
            pub fn parse(field: &str, value: &str) -> Result<Self, FieldViolation> {
                Uuid::parse_str(value.trim())
                    .map(Self)
                    .map_err(|_| FieldViolation::new(field, "must be a UUID"))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An organisation (tenant).
    OrgId
);
id_type!(
    /// A user (a person who logs in).
    UserId
);
id_type!(
    /// A service account, the owner of API keys.
    ServiceAccountId
);
id_type!(
    /// An API key.
    KeyId
);
id_type!(
    /// A publishable and a secret key issued together (`IssueKeyPair`).
    KeyPairId
);
id_type!(
    /// A login session, shared by every token of one login.
    SessionId
);
id_type!(
    /// An audit event.
    EventId
);
