//! Cedar's authorization loop over conditions built once. Cedar's authorizer rebuilds each
//! policy's condition (its scope constraints conjoined with its `when`/`unless` clauses) as a
//! new expression for every policy of every request, then drops it: about a tenth of a
//! decision. Here each static policy's condition is built once when the bundle loads and the
//! loop is Cedar's own (`Authorizer::is_authorized_core`): every policy evaluated, an erroring
//! policy skipped and reported, a satisfied forbid denying, else a satisfied permit allowing.
//! Anything off that path (a residual, a non-boolean condition) is left to Cedar's authorizer.

use std::collections::HashMap;
use std::sync::Arc;

use cedar_policy::{Effect, PolicyId, PolicySet};
use cedar_policy_core::ast::{self, Literal, PartialValue, Value, ValueKind};
use cedar_policy_core::entities::Entities;
use cedar_policy_core::evaluator::{EvaluationError, Evaluator};
use cedar_policy_core::extensions::Extensions;

/// One static policy with its condition built.
#[derive(Debug)]
pub(crate) struct CompiledPolicy {
    id: String,
    effect: Effect,
    condition: ast::Expr,
    slots: ast::SlotEnv,
}

/// What the loop found: the decision's parts, as Cedar's response holds them.
pub(crate) struct Outcome<'p> {
    pub(crate) allowed: bool,
    /// Satisfied forbids when any, else satisfied permits (Cedar's determining policies).
    pub(crate) determining: Vec<&'p str>,
    /// Erroring policies, in evaluation order.
    pub(crate) errors: Vec<(&'p str, EvaluationError)>,
}

/// Builds every static policy of `set`, by id. `None` if one does not rebuild (the caller then
/// keeps Cedar's authorizer for the whole set).
pub(crate) fn compile(set: &PolicySet) -> Option<HashMap<PolicyId, Arc<CompiledPolicy>>> {
    set.policies()
        .map(|policy| {
            let id: &ast::PolicyID = policy.id().as_ref();
            // The policy's own text (Cedar keeps it lossless), parsed again into the core AST.
            let parsed: ast::Policy =
                cedar_policy_core::parser::parse_policy(Some(id.clone()), &policy.to_string())
                    .ok()?
                    .into();
            Some((
                policy.id().clone(),
                Arc::new(CompiledPolicy {
                    id: policy.id().to_string(),
                    effect: policy.effect(),
                    condition: parsed.condition(),
                    slots: parsed.env().clone(),
                }),
            ))
        })
        .collect()
}

/// Cedar's authorization of `request` over `policies`; `None` when a policy leaves a residual
/// or a non-boolean value, which only Cedar's own authorizer answers.
pub(crate) fn authorize<'p>(
    request: &ast::Request,
    entities: &Entities,
    policies: &'p [Arc<CompiledPolicy>],
) -> Option<Outcome<'p>> {
    let evaluator = Evaluator::new(request.clone(), entities, Extensions::all_available());
    let (mut permits, mut forbids, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for policy in policies {
        match evaluator.partial_interpret(&policy.condition, &policy.slots) {
            Ok(PartialValue::Value(Value {
                value: ValueKind::Lit(Literal::Bool(satisfied)),
                ..
            })) => {
                if satisfied {
                    match policy.effect {
                        Effect::Permit => permits.push(policy.id.as_str()),
                        Effect::Forbid => forbids.push(policy.id.as_str()),
                    }
                }
            }
            Ok(_) => return None,
            Err(error) => errors.push((policy.id.as_str(), error)),
        }
    }
    Some(if forbids.is_empty() {
        Outcome {
            allowed: !permits.is_empty(),
            determining: permits,
            errors,
        }
    } else {
        Outcome {
            allowed: false,
            determining: forbids,
            errors,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::str::FromStr;

    use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};

    use super::*;

    /// Cedar's authorizer and this loop, on the same request: the same decision, determining
    /// policies and erroring policies (with their messages).
    #[test]
    fn the_loop_answers_as_cedars_authorizer() {
        let set = PolicySet::from_str(concat!(
            "permit (principal, action, resource) when { principal.level > 2 };\n",
            "@id(\"named\")\npermit (principal == User::\"ann\", action, resource);\n",
            "forbid (principal, action, resource is Doc) when { resource.locked };\n",
            "permit (principal, action == Action::\"view\", resource) when { resource.missing };\n",
        ))
        .unwrap();
        let entities = Entities::from_json_str(
            r#"[{"uid": {"type": "User", "id": "ann"}, "attrs": {"level": 3}, "parents": []},
                {"uid": {"type": "User", "id": "bob"}, "attrs": {"level": "x"}, "parents": []},
                {"uid": {"type": "Doc", "id": "open"}, "attrs": {"locked": false}, "parents": []},
                {"uid": {"type": "Doc", "id": "shut"}, "attrs": {"locked": true}, "parents": []}]"#,
            None,
        )
        .unwrap();
        let built = compile(&set).expect("every policy rebuilds");
        let compiled: Vec<Arc<CompiledPolicy>> =
            set.policies().map(|p| built[p.id()].clone()).collect();
        let uid = |s: &str| EntityUid::from_str(s).unwrap();
        for (principal, resource) in [
            ("User::\"ann\"", "Doc::\"open\""),
            ("User::\"ann\"", "Doc::\"shut\""),
            ("User::\"bob\"", "Doc::\"open\""),
            ("User::\"carl\"", "Doc::\"none\""),
        ] {
            let request = Request::new(
                uid(principal),
                uid("Action::\"view\""),
                uid(resource),
                Context::empty(),
                None,
            )
            .unwrap();
            let cedar = Authorizer::new().is_authorized(&request, &set, &entities);
            let ours = authorize(request.as_ref(), entities.as_ref(), &compiled).expect("decided");
            let what = format!("{principal} {resource}");
            assert_eq!(ours.allowed, cedar.decision() == Decision::Allow, "{what}");
            let mut theirs: Vec<String> = cedar
                .diagnostics()
                .reason()
                .map(ToString::to_string)
                .collect();
            theirs.sort();
            let mut mine: Vec<String> = ours.determining.iter().map(|s| s.to_string()).collect();
            mine.sort();
            assert_eq!(mine, theirs, "{what}");
            let theirs: Vec<(String, String)> = cedar
                .diagnostics()
                .errors()
                .map(|e| match e {
                    cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                        (e.policy_id().to_string(), e.inner().to_string())
                    }
                })
                .collect();
            let mine: Vec<(String, String)> = ours
                .errors
                .iter()
                .map(|(id, e)| (id.to_string(), e.to_string()))
                .collect();
            assert_eq!(mine, theirs, "{what}");
            assert!(
                !mine.is_empty() || principal.contains("ann"),
                "{what}: errors seen"
            );
        }
    }
}
