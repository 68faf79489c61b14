//! Invitation tokens. Inviting a user (or sending his invitation again) issues a random token,
//! of which the store keeps only the SHA-256; the token itself goes to the outbox for the
//! embedding app to deliver (an e-mail with a link). Whoever holds it accepts the invitation at
//! `POST /v1/invitations/accept`, acting as the invited user: the bundle's policies then
//! decide the acceptance like any directory operation (`accept_invitation`), and the
//! acceptance, the token's use and the audit record are one transaction.

use std::time::{Duration, SystemTime};

use policy_core::directory::{DirectoryOp, DirectoryPlan};
use policy_core::wire::EntityRef;
use policy_core::Engine;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::store::{InvitationWrite, IssuedInvitation, OutboxDraft};

/// Longest token accepted: what we issue is 64 hex digits; anything much longer is not ours
/// and is refused before it is hashed.
const MAX_TOKEN_LEN: usize = 128;

/// A fresh token: 32 random bytes as hex, with its hash.
fn new_token() -> Result<(String, String), ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness for a token: {e}")))?;
    let token = hex::encode(bytes);
    let hash = super::auth::hash_token(&token);
    Ok((token, hash))
}

/// The hash a presented token is looked up by, once its shape is checked.
pub fn presented_hash(token: &str) -> Result<String, ApiError> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.is_ascii() {
        return Err(ApiError::BadBody(format!(
            "`token` must be the invitation's token (at most {MAX_TOKEN_LEN} ASCII characters)"
        )));
    }
    Ok(super::auth::hash_token(token))
}

/// Whom a planned directory operation invites and at which address: the new user of an
/// invitation the planner marked pending, or the user whose invitation is sent again.
pub fn invitee(
    data: &Engine,
    op: &DirectoryOp,
    plan: &DirectoryPlan,
) -> Result<Option<(EntityRef, String)>, ApiError> {
    let pending_attr = data
        .firm_model()
        .map(|m| m.attributes.pending.clone())
        .unwrap_or_default();
    let email_of = |record: &Value| {
        record["attrs"]["email"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    Ok(match op {
        DirectoryOp::InviteUser { .. } => plan
            .delta
            .upsert
            .iter()
            .find(|r| !pending_attr.is_empty() && r["attrs"][&pending_attr] == json!(true))
            .and_then(|r| policy_core::uid_of_record(r).map(|uid| (uid, email_of(r)))),
        DirectoryOp::ResendInvitation { user } => {
            let record = data
                .entity_record(user)
                .ok_or_else(|| ApiError::NotFound(format!("no entity {user}")))?
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Some((user.clone(), email_of(&record)))
        }
        _ => None,
    })
}

/// The invitation write of `user`'s new token, and its outbox event (which carries the token:
/// the only copy outside the invitee's mailbox).
pub fn issue(
    user: &EntityRef,
    email: &str,
    plan: &DirectoryPlan,
    inviter: &EntityRef,
    resent: bool,
    ttl: Duration,
) -> Result<InvitationWrite, ApiError> {
    let (token, token_hash) = new_token()?;
    let expires_at = crate::store::rfc3339(SystemTime::now() + ttl);
    let kind = if resent {
        "invitation_resent"
    } else {
        "invitation"
    };
    let payload = json!({
        "user": user,
        "email": email,
        "firm": plan.actor_firm,
        "invited_by": inviter,
        "token": token,
        "expires_at": expires_at,
        "accept": {"method": "POST", "path": "/v1/invitations/accept", "body": {"token": token}},
    });
    Ok(InvitationWrite::Issue(IssuedInvitation {
        token_hash,
        user: serde_json::to_string(user)
            .map_err(|e| ApiError::Internal(format!("an invitation's user: {e}")))?,
        firm: plan.actor_firm.id.clone(),
        expires_at,
        event: OutboxDraft {
            kind: kind.into(),
            payload,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_well_formed_ones_are_looked_up() -> Result<(), ApiError> {
        let (a, hash_a) = new_token()?;
        let (b, _) = new_token()?;
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(presented_hash(&a)?, hash_a);
        assert_eq!(presented_hash(&format!(" {a}\n"))?, hash_a);
        assert!(presented_hash("").is_err());
        assert!(presented_hash(&"x".repeat(MAX_TOKEN_LEN + 1)).is_err());
        assert!(presented_hash("jeton-é").is_err());
        Ok(())
    }
}
