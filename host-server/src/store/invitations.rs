//! Invitations and the outbox, as the store keeps them: an invited user's token (its SHA-256
//! only: the token itself is the invitee's secret, delivered through the outbox), when it
//! expires and whether it was used; and the outbox of events the embedding app delivers (an
//! invitation's e-mail), read in order by id. Both are written in the transaction of the
//! entity write they belong to (the user invited, the invitation accepted), so that a crash
//! never leaves an invited user without his invitation or an invitation without its event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a directory write does to the invitations besides its entity delta.
#[derive(Debug, Clone)]
pub enum InvitationWrite {
    /// A new token for `user` (an invitation or a resend): the user's earlier open tokens stop
    /// working, and `event` goes to the outbox.
    Issue(IssuedInvitation),
    /// The open token with this hash is used (refused if it is not open any more).
    Accept { token_hash: String },
}

#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The invited user's reference as JSON (`{"type":"User","id":"zoe"}`).
    pub user: String,
    /// His firm's id (`dupont`): the tenant the acceptance acts in and the outbox event is of.
    pub firm: String,
    /// RFC 3339 UTC, as [`super::rfc3339`] writes it (so that times compare as text).
    pub expires_at: String,
    /// The outbox event that delivers the token.
    pub event: OutboxDraft,
}

/// The state of a stored invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Open,
    Accepted,
    /// Replaced by a newer token for the same user (a resend).
    Replaced,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Accepted => "accepted",
            Self::Replaced => "replaced",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Open, Self::Accepted, Self::Replaced]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A stored invitation, found by its token's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvitation {
    pub user: String,
    pub firm: String,
    pub expires_at: String,
    pub state: InvitationState,
}

/// An event to deliver, before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxDraft {
    /// `invitation` (a new user's) or `invitation_resent`.
    pub kind: String,
    pub payload: Value,
}

/// An event of the outbox, numbered in the order it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutboxEvent {
    pub id: u64,
    /// RFC 3339 UTC.
    pub at: String,
    pub kind: String,
    pub payload: Value,
}
