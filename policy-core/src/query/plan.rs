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
    /// Inside the right side of `K.hasTag(k) && …`: tag lookups there do not error.
    pub(crate) tags_guarded: std::cell::Cell<bool>,
}

impl ToCondition<'_> {
    /// A policy's residual as a condition. Where Cedar would error the policy does not apply:
    /// `false` for the policy; inside a negation (or an `if` test) that is no longer what the
    /// condition says, so an error there, or an atom that can error, is refused instead.
    pub(crate) fn of(&self, residual: &Residual) -> Result<Condition, EngineError> {
        self.convert(residual, false)
    }

    fn convert(&self, residual: &Residual, negated: bool) -> Result<Condition, EngineError> {
        let kind = match residual {
            Residual::Concrete { value, .. } => {
                return match value.value {
                    ValueKind::Lit(Literal::Bool(true)) => Ok(Condition::True),
                    ValueKind::Lit(Literal::Bool(false)) => Ok(Condition::False),
                    _ => Err(self.unsupported(residual)),
                };
            }
            // Evaluation would error: the policy does not apply.
            Residual::Error(_) if !negated => return Ok(Condition::False),
            Residual::Error(_) => return Err(self.unsupported(residual)),
            Residual::Partial { kind, .. } => kind,
        };
        match kind {
            // A boolean attribute on its own: it is true.
            ResidualKind::GetAttr { .. } => Ok(Condition::Eq {
                path: self.path(residual, residual)?,
                value: serde_json::Value::Bool(true),
            }),
            ResidualKind::And { left, right } => {
                // `K.hasTag(k) && …K.getTag(k)…`: the right side reads a tag the left proved
                // present, so its lookup cannot error there.
                let guard = is_has_tag(left).then(|| self.tags_guarded.replace(true));
                let right = self.convert(right, negated);
                if let Some(before) = guard {
                    self.tags_guarded.set(before);
                }
                Ok(Condition::And {
                    args: vec![self.convert(left, negated)?, right?],
                })
            }
            ResidualKind::Or { left, right } => {
                // `l || true` is kept by partial evaluation when `l` can error: it holds only
                // when `l` does not error, which no condition here says.
                let is_true = |r: &Residual| matches!(r, Residual::Concrete { value, .. } if matches!(value.value, ValueKind::Lit(Literal::Bool(true))));
                if (is_true(right) && may_error(left, false))
                    || (is_true(left) && may_error(right, false))
                {
                    return Err(self.unsupported(residual));
                }
                Ok(Condition::Or {
                    args: vec![self.convert(left, negated)?, self.convert(right, negated)?],
                })
            }
            ResidualKind::If {
                test_expr,
                then_expr,
                else_expr,
            } => {
                // The test is read both ways: refused where it can error.
                let test = self.convert(test_expr, true)?;
                Ok(Condition::Or {
                    args: vec![
                        Condition::And {
                            args: vec![test.clone(), self.convert(then_expr, negated)?],
                        },
                        Condition::And {
                            args: vec![
                                Condition::Not {
                                    arg: Box::new(test),
                                },
                                self.convert(else_expr, negated)?,
                            ],
                        },
                    ],
                })
            }
            ResidualKind::UnaryApp {
                op: UnaryOp::Not,
                arg,
            } => Ok(Condition::Not {
                arg: Box::new(self.convert(arg, !negated)?),
            }),
            ResidualKind::HasAttr { expr, attr } => {
                let mut path = self.path(expr, residual)?;
                extend(&mut path, expr, attr.as_str()).ok_or_else(|| self.unsupported(residual))?;
                Ok(Condition::Has { path })
            }
            ResidualKind::BinaryApp { .. }
                if negated && may_error(residual, self.tags_guarded.get()) =>
            {
                Err(self.unsupported(residual))
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
        if let Some(condition) = self.tag_lookup(op, arg1, arg2) {
            return condition;
        }
        if op == BinaryOp::In {
            if let Some(condition) = self.in_tag(arg1, arg2) {
                return condition;
            }
        }
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
                    // K itself, even when the store does not know it (a row may name it).
                    if uid.entity_type() == wanted {
                        entities.push(to_ref(uid));
                    }
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
            BinaryOp::HasTag if path_from(arg2, Var::Resource).is_some() => {
                // K.hasTag(resource.path): the path's value is one of K's tag keys.
                let known = known_entities(arg1).ok_or_else(|| self.unsupported(whole))?;
                let mut keys: Vec<serde_json::Value> = Vec::new();
                for uid in known {
                    if let Some(entity) = self.store.get(uid) {
                        let core: &cedar_policy_core::ast::Entity = entity.as_ref();
                        keys.extend(core.tag_keys().map(|k| serde_json::Value::from(k.as_str())));
                    }
                }
                Ok(Condition::OneOf {
                    path: self.path(arg2, whole)?,
                    values: keys,
                })
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

    /// `K.getTag(resource.path) op literal` (either side), K a known entity: the path's value
    /// is one of K's tag keys whose value passes (a missing key errors: the policy does not
    /// apply). `None` when the shape is another.
    fn tag_lookup(
        &self,
        op: BinaryOp,
        arg1: &Residual,
        arg2: &Residual,
    ) -> Option<Result<Condition, EngineError>> {
        let tag_of = |r: &Residual| match r {
            Residual::Partial {
                kind:
                    ResidualKind::BinaryApp {
                        op: BinaryOp::GetTag,
                        arg1,
                        arg2,
                    },
                ..
            } if path_from(arg2, Var::Resource).is_some() => Some((arg1.clone(), arg2.clone())),
            _ => None,
        };
        let long_of = |r: &Residual| match r {
            Residual::Concrete { value, .. } => match value.value {
                ValueKind::Lit(Literal::Long(n)) => Some(n),
                _ => None,
            },
            _ => None,
        };
        let (owner, key, n, tag_first) = match (tag_of(arg1), tag_of(arg2)) {
            (Some((owner, key)), None) => (owner, key, long_of(arg2)?, true),
            (None, Some((owner, key))) => (owner, key, long_of(arg1)?, false),
            _ => return None,
        };
        let passes = move |v: i64| match (op, tag_first) {
            (BinaryOp::Eq, _) => v == n,
            (BinaryOp::Less, true) => v < n,
            (BinaryOp::Less, false) => n < v,
            (BinaryOp::LessEq, true) => v <= n,
            (BinaryOp::LessEq, false) => n <= v,
            _ => false,
        };
        if !matches!(op, BinaryOp::Eq | BinaryOp::Less | BinaryOp::LessEq) {
            return None;
        }
        let keys = self.tag_keys_where(&owner, |v| match v.value {
            ValueKind::Lit(Literal::Long(found)) => passes(found),
            _ => false,
        })?;
        Some(
            self.path(&key, &key)
                .map(|path| Condition::OneOf { path, values: keys }),
        )
    }

    /// The tag keys of the known entity `owner` whose value `keep` picks.
    fn tag_keys_where(
        &self,
        owner: &Residual,
        keep: impl Fn(&Value) -> bool,
    ) -> Option<Vec<serde_json::Value>> {
        let mut keys = Vec::new();
        for uid in known_entities(owner)? {
            let Some(entity) = self.store.get(uid) else {
                continue;
            };
            let core: &cedar_policy_core::ast::Entity = entity.as_ref();
            for (k, value) in core.tags() {
                if let cedar_policy_core::ast::PartialValue::Value(v) = value {
                    if keep(v) {
                        keys.push(serde_json::Value::from(k.as_str()));
                    }
                }
            }
        }
        Some(keys)
    }

    /// `P in K.getTag(resource.path)`, P and K known: the tag keys of K whose value (an entity,
    /// or a set of them) holds P or one of P's ancestors.
    fn in_tag(&self, arg1: &Residual, arg2: &Residual) -> Option<Result<Condition, EngineError>> {
        let Residual::Partial {
            kind:
                ResidualKind::BinaryApp {
                    op: BinaryOp::GetTag,
                    arg1: owner,
                    arg2: key,
                },
            ..
        } = arg2
        else {
            return None;
        };
        path_from(key, Var::Resource)?;
        let mut above: std::collections::HashSet<EntityUID> = std::collections::HashSet::new();
        for uid in known_entities(arg1)? {
            above.insert(uid.clone());
            above.extend(
                self.store
                    .self_and_ancestors(uid)
                    .into_iter()
                    .map(|ix| self.store.uid_of_slot(ix).clone()),
            );
        }
        let is_above = |v: &Value| matches!(&v.value, ValueKind::Lit(Literal::EntityUID(u)) if above.contains(u.as_ref()));
        let keys = self.tag_keys_where(owner, |v| match &v.value {
            ValueKind::Set(set) => set.authoritative.iter().any(is_above),
            _ => is_above(v),
        })?;
        Some(
            self.path(key, key)
                .map(|path| Condition::OneOf { path, values: keys }),
        )
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
             contains, has, hasTag and getTag on a known entity, <, <= on the resource's attributes; see \
             docs/query.md)",
            self.policy
        ))
    }
}

/// Whether evaluating `residual` can error on data a filter reads: a tag looked up by a key
/// (absent keys error), arithmetic (overflow), extension functions. Attribute reads are not
/// counted: the schema makes them present, and a filter's rows are taken as complete (every
/// entity an attribute names exists), as the store's own are.
fn may_error(residual: &Residual, tags_guarded: bool) -> bool {
    let may_error = |r: &Residual| may_error(r, tags_guarded);
    let Residual::Partial { kind, .. } = residual else {
        return matches!(residual, Residual::Error(_));
    };
    match kind {
        ResidualKind::Var(_) => false,
        ResidualKind::BinaryApp { op, arg1, arg2 } => {
            (*op == BinaryOp::GetTag && !tags_guarded)
                || matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul)
                || may_error(arg1)
                || may_error(arg2)
        }
        ResidualKind::UnaryApp { op, arg } => matches!(op, UnaryOp::Neg) || may_error(arg),
        ResidualKind::ExtensionFunctionApp { .. } => true,
        ResidualKind::If {
            test_expr,
            then_expr,
            else_expr,
        } => may_error(test_expr) || may_error(then_expr) || may_error(else_expr),
        ResidualKind::And { left, right } | ResidualKind::Or { left, right } => {
            may_error(left) || may_error(right)
        }
        ResidualKind::GetAttr { expr, .. } | ResidualKind::HasAttr { expr, .. } => may_error(expr),
        ResidualKind::ExtHasAttr { expr, .. }
        | ResidualKind::Like { expr, .. }
        | ResidualKind::Is { expr, .. } => may_error(expr),
        ResidualKind::Set(items) => items.iter().any(may_error),
        ResidualKind::Record(fields) => fields.values().any(may_error),
    }
}

/// `K.hasTag(…)`.
fn is_has_tag(residual: &Residual) -> bool {
    matches!(
        residual,
        Residual::Partial {
            kind: ResidualKind::BinaryApp {
                op: BinaryOp::HasTag,
                ..
            },
            ..
        }
    )
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

/// The wire reference of a core uid (`entity_json::to_ref`, on the same uid seen as Cedar's).
pub(crate) fn to_ref(uid: &EntityUID) -> EntityRef {
    crate::entity_json::to_ref(<cedar_policy::EntityUid as ref_cast::RefCast>::ref_cast(
        uid,
    ))
}
