//! What an `Authorization` value carries, read one way for every transport (admin calls,
//! Verify, gateways); each decides what the other cases mean for it.

/// An `Authorization` value, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// `Bearer <token>` (scheme in any case, token trimmed).
    Bearer(&'a str),
    /// A single word without a scheme: taken by some clients to be the credential itself.
    Bare(&'a str),
    /// Another scheme (`Basic ...`): not ours.
    Other,
    /// Nothing, or `Bearer` without a token.
    Empty,
}

impl<'a> Authorization<'a> {
    pub fn parse(value: &'a str) -> Self {
        let value = value.trim();
        match value.split_once(' ') {
            _ if value.is_empty() => Self::Empty,
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => match token.trim() {
                "" => Self::Empty,
                token => Self::Bearer(token),
            },
            Some(_) => Self::Other,
            None if value.eq_ignore_ascii_case("bearer") => Self::Empty,
            None => Self::Bare(value),
        }
    }

    /// The credential of a `Bearer` or bare value.
    pub fn token(self) -> Option<&'a str> {
        match self {
            Self::Bearer(t) | Self::Bare(t) => Some(t),
            Self::Other | Self::Empty => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Authorization::{self, *};

    #[test]
    fn values_are_classified() {
        assert_eq!(Authorization::parse("Bearer abc"), Bearer("abc"));
        assert_eq!(Authorization::parse("bearer  abc "), Bearer("abc"));
        assert_eq!(Authorization::parse("abc"), Bare("abc"));
        assert_eq!(Authorization::parse("Basic dXNlcg=="), Other);
        assert_eq!(Authorization::parse("Bearer "), Empty);
        assert_eq!(Authorization::parse("bearer"), Empty);
        assert_eq!(Authorization::parse("   "), Empty);
    }
}
