//! Field levels, `none < print < read < full`: how much of a field (or section) a user gets.
//! Their own module, used by the wire types and by profiles alike (neither imports the other
//! for them).

use serde::{Deserialize, Serialize};

/// How much of a field (or section) a user gets. Ordered: `None < Print < Read < Full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldLevel {
    None,
    Print,
    Read,
    /// Read and edit.
    Full,
}

impl FieldLevel {
    pub const ALL: [FieldLevel; 4] = [Self::None, Self::Print, Self::Read, Self::Full];

    pub fn from_long(n: i64) -> Option<Self> {
        match n {
            0 => Some(Self::None),
            1 => Some(Self::Print),
            2 => Some(Self::Read),
            3 => Some(Self::Full),
            _ => None,
        }
    }

    pub fn as_long(self) -> i64 {
        self as i64
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Print => "print",
            Self::Read => "read",
            Self::Full => "full",
        }
    }
}

impl std::fmt::Display for FieldLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
