//! A residual as the documented condition AST (`wire::Condition`): Cedar's expression kept to
//! the shapes a filter on stored rows can express. `K in resource.path` becomes "the path's
//! entity is one of K's ancestors (or K)", read from the store, so a filter needs no hierarchy
//! table for the principal's side. Any other shape is refused with the policy it came from,
//! never approximated.

use cedar_policy_core::ast::{BinaryOp, EntityUID, Literal, UnaryOp, Value, ValueKind, Var};
use cedar_policy_core::tpe::residual::{Residual, ResidualKind};

use super::candidates::{entity_type_of, known_entities, path_from, Hop};
use crate::error::EngineError;
use crate::store::EntityStore;
use crate::wire::{Condition, EntityRef, PathStep};

pub(crate) struct ToCondition<'s> {
    pub(crate) store: &'s EntityStore,
    /// The policy being read, named in errors.
    pub(crate) policy: String,
}

impl ToCondition<'_> {
    pub(crate) fn of(&self, residual: &Residual) -> Result<Condition, EngineError> {
        let kind = match residual {
            Residual::Concrete { value, .. } => {
                return match value.value {
                    ValueKind::Lit(Literal::Bool(true)) => Ok(Condition::True),
                    ValueKind::Lit(Literal::Bool(false)) => Ok(Condition::False),
                    _ => Err(self.unsupported(residual)),
                };
            }
            // Evaluation would error: the policy does not apply.
            Residual::Error(_) => return Ok(Condition::False),
            Residual::Partial { kind, .. } => kind,
        };
        match kind {
            // A boolean attribute on its own: it is true.
            ResidualKind::GetAttr { .. } => Ok(Condition::Eq {
                path: self.path(residual, residual)?,
                value: serde_json::Value::Bool(true),
            }),
            ResidualKind::And { left, right } => Ok(Condition::And {
                args: vec![self.of(left)?, self.of(right)?],
            }),
            ResidualKind::Or { left, right } => Ok(Condition::Or {
                args: vec![self.of(left)?, self.of(right)?],
            }),
            ResidualKind::If {
                test_expr,
                then_expr,
                else_expr,
            } => {
                let test = self.of(test_expr)?;
                Ok(Condition::Or {
                    args: vec![
                        Condition::And {
                            args: vec![test.clone(), self.of(then_expr)?],
                        },
                        Condition::And {
                            args: vec![
                                Condition::Not {
                                    arg: Box::new(test),
                                },
                                self.of(else_expr)?,
                            ],
                        },
                    ],
                })
            }
            ResidualKind::UnaryApp {
                op: UnaryOp::Not,
                arg,
            } => Ok(Condition::Not {
                arg: Box::new(self.of(arg)?),
            }),
            ResidualKind::HasAttr { expr, attr } => {
                let mut path = self.path(expr, residual)?;
                extend(&mut path, expr, attr.as_str()).ok_or_else(|| self.unsupported(residual))?;
                Ok(Condition::Has { path })
            }
            ResidualKind::BinaryApp { op, arg1, arg2 } => self.binary(*op, arg1, arg2, residual),
            _ => Err(self.unsupported(residual)),
        }
    }

    fn binary(
        &self,
        op: BinaryOp,
        arg1: &Residual,
        arg2: &Residual,
        whole: &Residual,
    ) -> Result<Condition, EngineError> {
        match op {
            BinaryOp::Eq => {
                let (path, value) = match (
                    path_from(arg1, Var::Resource),
                    path_from(arg2, Var::Resource),
                ) {
                    (Some(_), None) => (self.path(arg1, whole)?, self.literal(arg2, whole)?),
                    (None, Some(_)) => (self.path(arg2, whole)?, self.literal(arg1, whole)?),
                    _ => return Err(self.unsupported(whole)),
                };
                Ok(Condition::Eq { path, value })
            }
            BinaryOp::In => {
                if path_from(arg1, Var::Resource).is_some() {
                    let entities = self.entities(arg2, whole)?;
                    return Ok(Condition::In {
                        path: self.path(arg1, whole)?,
                        entities,
                    });
                }
                // K in resource.path: the path's entity is K or one of K's ancestors.
                let path = self.path(arg2, whole)?;
                let known = known_entities(arg1).ok_or_else(|| self.unsupported(whole))?;
                let wanted = entity_type_of(arg2.ty()).or_else(|| set_element_type(arg2));
                let Some(wanted) = wanted else {
                    return Err(self.unsupported(whole));
                };
                let mut entities: Vec<EntityRef> = Vec::new();
                for uid in known {
                    for ix in self.store.self_and_ancestors(uid) {
                        let found = self.store.uid_of_slot(ix);
                        if found.entity_type() == wanted {
                            entities.push(to_ref(found));
                        }
                    }
                }
                entities.sort();
                entities.dedup();
                let values = entities
                    .iter()
                    .filter_map(|e| serde_json::to_value(e).ok())
                    .collect();
                Ok(Condition::OneOf { path, values })
            }
            BinaryOp::Contains if path_from(arg1, Var::Resource).is_none() => {
                // [v1, v2].contains(resource.path)
                let Residual::Concrete { value, .. } = arg1 else {
                    return Err(self.unsupported(whole));
                };
                let ValueKind::Set(set) = &value.value else {
                    return Err(self.unsupported(whole));
                };
                let values = set
                    .authoritative
                    .iter()
                    .map(|v| literal_json(v).ok_or_else(|| self.unsupported(whole)))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Condition::OneOf {
                    path: self.path(arg2, whole)?,
                    values,
                })
            }
            BinaryOp::Contains => {
                let path = self.path(arg1, whole)?;
                Ok(Condition::Contains {
                    path,
                    value: self.literal(arg2, whole)?,
                })
            }
            BinaryOp::Less | BinaryOp::LessEq => {
                let (cmp, flipped) = if op == BinaryOp::Less {
                    ("<", ">")
                } else {
                    ("<=", ">=")
                };
                if path_from(arg1, Var::Resource).is_some() {
                    Ok(Condition::Compare {
                        path: self.path(arg1, whole)?,
                        cmp: cmp.into(),
                        value: self.long(arg2, whole)?,
                    })
                } else {
                    Ok(Condition::Compare {
                        path: self.path(arg2, whole)?,
                        cmp: flipped.into(),
                        value: self.long(arg1, whole)?,
                    })
                }
            }
            _ => Err(self.unsupported(whole)),
        }
    }

    fn path(&self, residual: &Residual, whole: &Residual) -> Result<Vec<PathStep>, EngineError> {
        let hops = path_from(residual, Var::Resource).ok_or_else(|| self.unsupported(whole))?;
        Ok(hops.into_iter().map(step).collect())
    }

    fn entities(
        &self,
        residual: &Residual,
        whole: &Residual,
    ) -> Result<Vec<EntityRef>, EngineError> {
        let known = known_entities(residual).ok_or_else(|| self.unsupported(whole))?;
        Ok(known.into_iter().map(to_ref).collect())
    }

    fn literal(
        &self,
        residual: &Residual,
        whole: &Residual,
    ) -> Result<serde_json::Value, EngineError> {
        let Residual::Concrete { value, .. } = residual else {
            return Err(self.unsupported(whole));
        };
        literal_json(value).ok_or_else(|| self.unsupported(whole))
    }

    fn long(&self, residual: &Residual, whole: &Residual) -> Result<i64, EngineError> {
        match residual {
            Residual::Concrete { value, .. } => match value.value {
                ValueKind::Lit(Literal::Long(n)) => Ok(n),
                _ => Err(self.unsupported(whole)),
            },
            _ => Err(self.unsupported(whole)),
        }
    }

    fn unsupported(&self, residual: &Residual) -> EngineError {
        let expr: cedar_policy_core::ast::Expr = residual.clone().into();
        EngineError::Unsupported(format!(
            "policy `{}`: a filter cannot express `{expr}` (supported: and, or, not, if, ==, in, \
             contains, has, <, <= on the resource's attributes; see docs/query.md)",
            self.policy
        ))
    }
}

fn step(hop: Hop) -> PathStep {
    PathStep {
        entity_type: hop.on.to_string(),
        attribute: hop.attrs.iter().map(ToString::to_string).collect(),
    }
}

/// `path` followed by one more attribute read on `expr` (its type says whether it is a field
/// of the last step's record or an attribute of a new entity).
fn extend(path: &mut Vec<PathStep>, expr: &Residual, attr: &str) -> Option<()> {
    match expr.ty() {
        cedar_policy_core::validator::types::Type::Record { .. } => {
            path.last_mut()?.attribute.push(attr.to_string());
        }
        ty => path.push(PathStep {
            entity_type: entity_type_of(ty)?.to_string(),
            attribute: vec![attr.to_string()],
        }),
    }
    Some(())
}

fn set_element_type(residual: &Residual) -> Option<&cedar_policy_core::ast::EntityType> {
    match residual.ty() {
        cedar_policy_core::validator::types::Type::Set {
            element_type: Some(t),
        } => entity_type_of(t),
        _ => None,
    }
}

fn literal_json(value: &Value) -> Option<serde_json::Value> {
    match &value.value {
        ValueKind::Lit(Literal::Bool(b)) => Some((*b).into()),
        ValueKind::Lit(Literal::Long(n)) => Some((*n).into()),
        ValueKind::Lit(Literal::String(s)) => Some(s.as_str().into()),
        ValueKind::Lit(Literal::EntityUID(uid)) => serde_json::to_value(to_ref(uid.as_ref())).ok(),
        _ => None,
    }
}

/// The wire reference of a core uid.
pub(crate) fn to_ref(uid: &EntityUID) -> EntityRef {
    EntityRef::new(uid.entity_type().to_string(), uid.eid().as_ref())
}
