//! Invitations: an invited user is pending (`firm_model.attributes.pending`) until he accepts;
//! the policies refuse him everything else meanwhile, and his seat of the plan is taken from
//! the invitation on. The planner decides and writes the entity side; the token that proves
//! who accepts, its expiry and the event that delivers it are the host's (the server keeps them
//! beside the entities, written in the same transaction).

use cedar_policy::EvalResult;
use serde_json::{json, Value};

use super::planner::{attrs_mut, Planner};
use crate::error::EngineError;
use crate::wire::EntityRef;

impl Planner<'_> {
    /// Whether `user` is invited and has not accepted yet.
    fn is_pending(&self, user: &EntityRef) -> Result<bool, EngineError> {
        let name = &self.model.attributes.pending;
        Ok(!name.is_empty()
            && matches!(
                self.entity(user)?.attr(name),
                Some(Ok(EvalResult::Bool(true)))
            ))
    }

    /// `user`'s record without the pending mark, once he (the actor) may accept.
    pub(super) fn accept_invitation(&mut self, user: &EntityRef) -> Result<Value, EngineError> {
        if self.actor != user {
            return Err(EngineError::InvalidRequest(format!(
                "{user}'s invitation is accepted by {user}, not by {}",
                self.actor
            )));
        }
        if !self.is_pending(user)? {
            return Err(EngineError::InvalidRequest(format!(
                "{user} has no pending invitation"
            )));
        }
        self.require("accept_invitation", user, json!({}), vec![], || {
            "the invitation cannot be accepted".into()
        })?;
        let mut record = self.record(user)?;
        attrs_mut(&mut record)?.remove(&self.model.attributes.pending);
        Ok(record)
    }

    /// Checks that the actor may send `user`'s invitation again (nothing is written).
    pub(super) fn resend_invitation(&mut self, user: &EntityRef) -> Result<(), EngineError> {
        // Authority first: whether someone is pending is not told to whoever may not resend.
        self.require("resend_invitation", user, json!({}), vec![], || {
            "invitations are sent by user administration".into()
        })?;
        if !self.is_pending(user)? {
            return Err(EngineError::InvalidRequest(format!(
                "{user} has no pending invitation: he has accepted it"
            )));
        }
        Ok(())
    }
}
