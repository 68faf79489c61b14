//! What one firm sees of the access profiles: the shared ones (a licence's base profiles and
//! any profile without a firm), its own custom ones, and its default — the profile the firm
//! chose (the firm's declared `default_profile` attribute), else the bundle's shared default.
//! A firm's choice is its own: it changes neither another firm's default nor the shared one.

use crate::entity_json::{attr_uid, to_ref};
use crate::error::EngineError;
use crate::profile::AccessProfile;
use crate::wire::EntityRef;
use crate::Engine;

impl Engine {
    /// The default access profile of `firm`'s new users.
    pub fn default_profile(&self, firm: &EntityRef) -> Result<EntityRef, EngineError> {
        let model = self.require_firm_model()?;
        let firm_entity = self
            .entity(firm)
            .ok_or_else(|| EngineError::NotFound(format!("no firm {firm}")))?;
        let chosen = attr_uid(firm_entity, &model.attributes.default_profile)
            .map(|uid| to_ref(&uid))
            // A choice naming a profile that is gone (or not a profile) is no choice.
            .filter(|p| self.profile(p).is_ok());
        match chosen {
            Some(profile) => Ok(profile),
            // The shared default, if this firm may use it (a store from before firms chose
            // their own may hold one firm's custom profile there).
            None => self
                .profiles()
                .into_iter()
                .find(|p| p.is_default && p.firm.as_ref().is_none_or(|f| f == firm))
                .map(|p| p.uid)
                .ok_or_else(|| {
                    EngineError::NotFound(format!(
                        "no default access profile for {firm}: choose one (set_default_profile)"
                    ))
                }),
        }
    }

    /// The profiles `firm` may use, sorted by uid, `is_default` marking the firm's default.
    pub fn firm_profiles(&self, firm: &EntityRef) -> Result<Vec<AccessProfile>, EngineError> {
        let default = self.default_profile(firm)?;
        Ok(self
            .profiles()
            .into_iter()
            .filter(|p| p.firm.as_ref().is_none_or(|f| f == firm))
            .map(|mut p| {
                p.is_default = p.uid == default;
                p
            })
            .collect())
    }
}
