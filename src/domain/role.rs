//! Roles, ordered owner > admin > operator > member.

use std::fmt;
use std::str::FromStr;

/// What a user or service account may do in its org. The derive order is the privilege order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Member,
    Operator,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Member, Role::Operator, Role::Admin, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Owners and admins manage keys, service accounts and users.
    pub fn can_administer(self) -> bool {
        self >= Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_privilege() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Operator && Role::Operator > Role::Member);
        assert!(Role::Admin.can_administer() && !Role::Operator.can_administer());
        assert_eq!("OWNER".parse::<Role>(), Ok(Role::Owner));
    }
}
