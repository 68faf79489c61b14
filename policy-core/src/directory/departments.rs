//! Departments of the firm: creation within the plan's department limit.

use serde_json::{json, Value};

use super::planner::Planner;
use crate::entity_json::to_ref;
use crate::error::EngineError;
use crate::firm_model::Part;
use crate::wire::EntityRef;

impl Planner<'_> {
    /// The departments `in` the firm (read from each department's own ancestors).
    pub(super) fn departments_of(&self, firm: &EntityRef) -> Vec<EntityRef> {
        let Ok(firm_uid) = crate::entity_json::to_uid(firm) else {
            return Vec::new();
        };
        self.engine
            .entities_of_type(&self.model.type_name(Part::Department))
            .filter(|e| e.as_ref().ancestors().any(|a| a == firm_uid.as_ref()))
            .map(|e| to_ref(&e.uid()))
            .collect()
    }

    pub(super) fn create_department(
        &mut self,
        id: &str,
        name: &str,
    ) -> Result<(String, Vec<Value>), EngineError> {
        let firm = self.actor_firm()?;
        let uid = self.uid_of(Part::Department, id.trim());
        if id.trim().is_empty() || name.trim().is_empty() {
            return Err(EngineError::InvalidRequest(
                "a department needs an id and a name".into(),
            ));
        }
        if self.engine.entity(&uid).is_some() {
            return Err(EngineError::EntityDuplicate(format!(
                "{uid} already exists"
            )));
        }
        // The count the policies decide on is the engine's own (`plan_counts.rs`).
        let (_, department_count) = self.engine.plan_counts(&firm);
        let max = self.plan_limit(&firm, &self.model.attributes.max_departments);
        self.require(
            "create_department",
            &firm,
            json!({}),
            vec![],
            || match max {
                Some((_, n)) => {
                    format!("{firm} has {department_count} department(s); its plan allows {n}")
                }
                None => "departments are created by administrators".into(),
            },
        )?;
        let record = json!({
            "uid": {"type": uid.type_name, "id": uid.id},
            "attrs": {"name": name.trim()},
            "parents": [{"type": firm.type_name, "id": firm.id}],
        });
        Ok((format!("created {uid} ({})", name.trim()), vec![record]))
    }
}
