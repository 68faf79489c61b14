//! What a candidate bundle would change on real traffic: the decisions a server logged, replayed
//! on the active version and on the candidate over the same entities. A change is a request the
//! two versions answer differently; the logged answer itself is only compared to tell the
//! caller when the log no longer matches today's data (it never makes a change on its own, since
//! entities edited after the decision would otherwise show up as policy changes).
//!
//! One implementation for every face: `sesame impact`, and the admin console through the
//! browser package (`impact` in [`crate::json_api`]).
//!
//! A logged record is replayed only when the log kept the whole request. The decision log keeps
//! the number of per-call entities (`entities_count`), not the entities, and cuts oversized
//! requests (`{"_truncated": true}`): replaying those without what was cut would decide another
//! question, so they are counted as not replayable, never as changed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wire::{Decision, DecisionRequest, ErrorBody};
use crate::Engine;

/// One logged decision, as `GET /v1/admin/decisions` returns it (`at` and `latency_us` are
/// read past).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct LoggedDecision {
    /// The request as logged: masked context fields are `"***"`, per-call entities are
    /// replaced by `entities_count`.
    #[cfg_attr(feature = "typescript", ts(type = "Record<string, unknown>"))]
    pub request: Value,
    /// `allow`, `deny`, or `error`.
    pub decision: String,
    #[serde(default)]
    pub determining_policies: Vec<String>,
    /// The bundle version that answered.
    #[serde(default)]
    pub digest: String,
}

/// Why a logged record cannot be replayed faithfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum NotReplayable {
    /// The call carried entities for itself only; the log kept how many, not what they were.
    CallEntities,
    /// The request, or its context, was cut from the log for its size.
    Truncated,
    /// The record is not a decision request (principal, action and resource).
    Unreadable,
}

/// How many records were not replayed, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct NotReplayed {
    pub call_entities: usize,
    pub truncated: usize,
    pub unreadable: usize,
}

impl NotReplayed {
    pub fn total(&self) -> usize {
        self.call_entities + self.truncated + self.unreadable
    }

    fn count(&mut self, reason: NotReplayable) {
        match reason {
            NotReplayable::CallEntities => self.call_entities += 1,
            NotReplayable::Truncated => self.truncated += 1,
            NotReplayable::Unreadable => self.unreadable += 1,
        }
    }
}

/// What one version answers to a replayed request: a decision, or a refusal (e.g. an action
/// the candidate no longer declares). JSON: `{decision, determining_policies}` or `{error}`,
/// as in a batch answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum Outcome {
    Decided {
        decision: Decision,
        determining_policies: Vec<String>,
    },
    Refused {
        error: ErrorBody,
    },
}

impl Outcome {
    fn of(engine: &Engine, request: &DecisionRequest) -> Self {
        match engine.decide(request) {
            Ok(answer) => Self::Decided {
                decision: answer.decision,
                determining_policies: answer.determining_policies,
            },
            Err(e) => Self::Refused {
                error: ErrorBody::from(&e),
            },
        }
    }

    /// `allow`, `deny` or `error`: the words the decision log uses.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Decided {
                decision: Decision::Allow,
                ..
            } => "allow",
            Self::Decided {
                decision: Decision::Deny,
                ..
            } => "deny",
            Self::Refused { .. } => "error",
        }
    }
}

/// One logged request the candidate answers differently from the active version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ChangedDecision {
    /// The request as logged.
    #[cfg_attr(feature = "typescript", ts(type = "Record<string, unknown>"))]
    pub request: Value,
    /// What the log recorded.
    pub logged: String,
    /// The active version's answer today.
    pub before: Outcome,
    /// The candidate's answer.
    pub after: Outcome,
    /// The logged context had masked fields: both versions saw `"***"`, not the real values.
    pub masked: bool,
}

/// The impact of a candidate on a decision log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ImpactReport {
    /// The active version replayed as "before".
    pub from_digest: String,
    /// The candidate.
    pub to_digest: String,
    /// Logged records read.
    pub records: usize,
    /// Records replayed on both versions.
    pub replayed: usize,
    pub unchanged: usize,
    pub allow_to_deny: usize,
    pub deny_to_allow: usize,
    /// Decided by the active version, refused by the candidate.
    pub newly_refused: usize,
    /// Refused by the active version, decided by the candidate.
    pub newly_decided: usize,
    /// Replayed records the active version answers otherwise than the log says: the entities
    /// changed since, a masked context field mattered, or another version answered then.
    pub drifted: usize,
    pub not_replayed: NotReplayed,
    pub changes: Vec<ChangedDecision>,
}

/// Replays logged decisions one at a time (so a long replay can report progress).
pub struct Replay<'a> {
    before: &'a Engine,
    after: &'a Engine,
    report: ImpactReport,
}

impl<'a> Replay<'a> {
    /// `before`: the active version over today's entities; `after`: the candidate over the same.
    pub fn new(before: &'a Engine, after: &'a Engine) -> Self {
        Self {
            before,
            after,
            report: ImpactReport {
                from_digest: before.digest().to_string(),
                to_digest: after.digest().to_string(),
                ..ImpactReport::default()
            },
        }
    }

    pub fn record(&mut self, logged: &LoggedDecision) {
        let report = &mut self.report;
        report.records += 1;
        let request = match replayable(&logged.request) {
            Ok(r) => r,
            Err(reason) => {
                report.not_replayed.count(reason);
                return;
            }
        };
        report.replayed += 1;
        let before = Outcome::of(self.before, &request);
        let after = Outcome::of(self.after, &request);
        if before.label() != logged.decision {
            report.drifted += 1;
        }
        if before.label() == after.label() {
            report.unchanged += 1;
            return;
        }
        match (&before, &after) {
            (Outcome::Decided { .. }, Outcome::Refused { .. }) => report.newly_refused += 1,
            (Outcome::Refused { .. }, Outcome::Decided { .. }) => report.newly_decided += 1,
            (_, Outcome::Decided { decision, .. }) if *decision == Decision::Deny => {
                report.allow_to_deny += 1
            }
            _ => report.deny_to_allow += 1,
        }
        report.changes.push(ChangedDecision {
            masked: logged.request.get("context").is_some_and(has_masked_value),
            request: logged.request.clone(),
            logged: logged.decision.clone(),
            before,
            after,
        });
    }

    pub fn report(self) -> ImpactReport {
        self.report
    }
}

/// Replays every logged decision on `before` (the active version) and `after` (the candidate).
pub fn replay(before: &Engine, after: &Engine, log: &[LoggedDecision]) -> ImpactReport {
    let mut replay = Replay::new(before, after);
    log.iter().for_each(|logged| replay.record(logged));
    replay.report()
}

/// The decision request a logged record stands for, when the log kept all of it.
pub fn replayable(logged: &Value) -> Result<DecisionRequest, NotReplayable> {
    let cut = |v: Option<&Value>| v.is_some_and(|v| v.get("_truncated").is_some());
    if cut(Some(logged)) || cut(logged.get("context")) {
        return Err(NotReplayable::Truncated);
    }
    if logged
        .get("entities_count")
        .is_some_and(|n| n.as_u64() != Some(0))
    {
        return Err(NotReplayable::CallEntities);
    }
    // A log cut before masking keeps placeholders where the entities were.
    if logged
        .get("entities")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|e| !e.is_object()))
    {
        return Err(NotReplayable::CallEntities);
    }
    serde_json::from_value(logged.clone()).map_err(|_| NotReplayable::Unreadable)
}

fn has_masked_value(value: &Value) -> bool {
    match value {
        Value::String(s) => s == "***",
        Value::Array(items) => items.iter().any(has_masked_value),
        Value::Object(map) => map.values().any(has_masked_value),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::Bundle;

    const SCHEMA: &str = "entity Team;\n\
        entity User in [Team];\n\
        entity Doc = { secret: Bool };\n\
        action view appliesTo { principal: User, resource: Doc, context: { reason?: String } };\n\
        action print appliesTo { principal: User, resource: Doc };\n";

    /// Editors (members of `Team::"editors"`) view documents that are not secret.
    const POLICIES: &str = "@id(\"editors-view\")\n\
        permit (principal in Team::\"editors\", action == Action::\"view\", resource)\n\
        when { !resource.secret };\n";

    fn bundle(extra: &[(&str, &str)]) -> Bundle {
        let mut files = BTreeMap::from([
            ("schema.cedarschema".to_string(), SCHEMA.to_string()),
            ("policies.cedar".to_string(), POLICIES.to_string()),
        ]);
        for (path, text) in extra {
            files.insert(path.to_string(), text.to_string());
        }
        Bundle::load(files).unwrap()
    }

    fn data() -> Vec<Value> {
        vec![
            json!({"uid": {"type": "Team", "id": "editors"}, "attrs": {}, "parents": []}),
            json!({"uid": {"type": "User", "id": "ann"}, "attrs": {}, "parents": [{"type": "Team", "id": "editors"}]}),
            json!({"uid": {"type": "User", "id": "bob"}, "attrs": {}, "parents": []}),
            json!({"uid": {"type": "Doc", "id": "d1"}, "attrs": {"secret": false}, "parents": []}),
        ]
    }

    fn engines(candidate_extra: &[(&str, &str)]) -> (Engine, Engine) {
        (
            Engine::with_entities(bundle(&[]), data()).unwrap(),
            Engine::with_entities(bundle(candidate_extra), data()).unwrap(),
        )
    }

    fn logged(request: Value, decision: &str) -> LoggedDecision {
        LoggedDecision {
            request,
            decision: decision.into(),
            determining_policies: Vec::new(),
            digest: String::new(),
        }
    }

    fn ask(user: &str, action: &str) -> Value {
        json!({
            "principal": {"type": "User", "id": user},
            "action": {"type": "Action", "id": action},
            "resource": {"type": "Doc", "id": "d1"},
        })
    }

    const FORBID_ANN: &[(&str, &str)] = &[(
        "freeze.cedar",
        "@id(\"freeze-ann\")\nforbid (principal == User::\"ann\", action, resource);\n",
    )];

    #[test]
    fn a_new_forbid_turns_the_logged_allow_into_deny_with_its_determining_policy() {
        let (before, after) = engines(FORBID_ANN);
        let report = replay(&before, &after, &[logged(ask("ann", "view"), "allow")]);
        assert_eq!((report.replayed, report.allow_to_deny), (1, 1));
        assert_eq!(report.to_digest, after.digest());
        let change = &report.changes[0];
        assert_eq!(change.logged, "allow");
        assert_eq!(
            change.before,
            Outcome::Decided {
                decision: Decision::Allow,
                determining_policies: vec!["editors-view".into()]
            }
        );
        assert_eq!(
            change.after,
            Outcome::Decided {
                decision: Decision::Deny,
                determining_policies: vec!["freeze-ann".into()]
            }
        );
    }

    #[test]
    fn call_entities_kept_only_as_a_count_are_not_replayed_and_never_a_change() {
        // The console used to replay this record without its entities: bob alone is no
        // editor, so the replay said deny where the log said allow, a change that was none.
        let (before, after) = engines(&[]);
        let mut request = ask("bob", "view");
        request["entities_count"] = json!(1);
        let report = replay(&before, &after, &[logged(request, "allow")]);
        assert_eq!(report.not_replayed.call_entities, 1);
        assert_eq!((report.replayed, report.changes.len()), (0, 0));
    }

    #[test]
    fn truncated_and_unreadable_records_are_counted_not_replayed() {
        let (before, after) = engines(FORBID_ANN);
        let mut cut_context = ask("ann", "view");
        cut_context["context"] = json!({"_truncated": true, "bytes": 99});
        let log = [
            logged(cut_context, "allow"),
            logged(json!({"_truncated": true, "bytes": 2_000_000}), "allow"),
            logged(json!({"principal": "ann"}), "allow"),
        ];
        let report = replay(&before, &after, &log);
        assert_eq!(
            report.not_replayed,
            NotReplayed {
                call_entities: 0,
                truncated: 2,
                unreadable: 1
            }
        );
        assert_eq!(report.records, 3);
        assert!(report.changes.is_empty());
    }

    #[test]
    fn an_empty_entity_list_and_whole_entities_are_replayed() {
        let (before, after) = engines(FORBID_ANN);
        let mut counted_zero = ask("ann", "view");
        counted_zero["entities_count"] = json!(0);
        let mut carried = ask("cid", "view");
        carried["entities"] = json!([{"uid": {"type": "User", "id": "cid"}, "attrs": {}, "parents": [{"type": "Team", "id": "editors"}]}]);
        let mut placeholders = ask("ann", "view");
        placeholders["entities"] = json!([null]);
        let report = replay(
            &before,
            &after,
            &[
                logged(counted_zero, "allow"),
                logged(carried, "allow"),
                logged(placeholders, "allow"),
            ],
        );
        assert_eq!(report.replayed, 2);
        assert_eq!(report.not_replayed.call_entities, 1);
        // ann is frozen by the candidate; cid (an editor only through the call's entities) is
        // not, and is allowed by both.
        assert_eq!((report.allow_to_deny, report.unchanged), (1, 1));
    }

    #[test]
    fn data_changed_since_the_log_is_drift_not_a_change() {
        let (before, after) = engines(&[]);
        // Logged as allow back when bob was an editor; both versions deny him today.
        let report = replay(&before, &after, &[logged(ask("bob", "view"), "allow")]);
        assert_eq!((report.drifted, report.unchanged), (1, 1));
        assert!(report.changes.is_empty());
    }

    #[test]
    fn an_action_the_candidate_drops_is_newly_refused() {
        let before = Engine::with_entities(bundle(&[]), data()).unwrap();
        let mut files = before.bundle().files().clone();
        files.insert(
            "schema.cedarschema".into(),
            SCHEMA.replace(
                "action print appliesTo { principal: User, resource: Doc };\n",
                "",
            ),
        );
        let after = Engine::with_entities(Bundle::load(files).unwrap(), data()).unwrap();
        let report = replay(&before, &after, &[logged(ask("ann", "print"), "deny")]);
        assert_eq!(report.newly_refused, 1);
        assert_eq!(report.changes[0].after.label(), "error");
    }

    #[test]
    fn masked_context_is_flagged_on_the_change() {
        let (before, after) = engines(FORBID_ANN);
        let mut request = ask("ann", "view");
        request["context"] = json!({"reason": "***"});
        let report = replay(&before, &after, &[logged(request, "allow")]);
        assert!(report.changes[0].masked);
    }
}
