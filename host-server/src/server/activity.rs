//! A firm's activity history: what its users did (directory operations by acting user, sign-ins)
//! and the deploys that changed the rules everyone is under, read from the audit chain, filtered
//! by user, client, kind and date, as JSON or CSV. The route (`GET /v1/activity`) answers a firm
//! user's session whose bundle policies allow `view_activity` on the firm; the operators' whole
//! chain stays `/v1/admin/audit`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{AuditKind, AuditRecord};
use policy_core::wire::EntityRef;

/// The history's filters (`GET /v1/activity?user=&client=&kind=&from=&to=&format=`).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// A user id: what that user did, or what was done to him.
    pub user: Option<String>,
    /// A client company id: what was done on it.
    pub client: Option<String>,
    /// `login`, `create`, `modify`, `delete` or `deploy`.
    pub kind: Option<String>,
    /// From this instant or day on (RFC 3339, or a day `2026-12-01`).
    pub from: Option<String>,
    /// Up to this instant or day, included.
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// The newest this many entries (default 1,000, at most 10,000).
    pub limit: Option<usize>,
}

/// One entry of a firm's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActivityEntry {
    pub seq: u64,
    pub at: String,
    pub kind: Option<AuditKind>,
    /// The firm user who acted (absent for a deploy: an operator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub user: Option<String>,
    /// The token or session the action came through.
    pub via: String,
    /// What was done, in one line.
    pub summary: String,
    /// The entities the action named (users, clients, profiles...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub about: Vec<EntityRef>,
}

/// The audit detail a directory operation writes (`AppState::directory`): who acted, in which
/// firm, on what.
pub fn directory_note(
    summary: &str,
    checked: &[String],
    firm: &EntityRef,
    acting: &EntityRef,
    about: &[EntityRef],
) -> Value {
    serde_json::json!({
        "summary": summary,
        "checked": checked,
        "firm": firm,
        "user": acting,
        "about": about,
    })
}

fn refs(value: &Value) -> Vec<EntityRef> {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

fn same_ref(value: &Value, r: &EntityRef) -> bool {
    serde_json::from_value::<EntityRef>(value.clone()).is_ok_and(|v| &v == r)
}

/// `record` as an entry of `firm`'s history, or `None` when it is not the firm's: its own
/// directory operations and sign-ins, and every deploy.
fn entry_of(record: &AuditRecord, firm: &EntityRef) -> Option<ActivityEntry> {
    let d = &record.draft;
    let detail = &d.detail;
    let (user, summary, about) = if let Some(op) = detail.get("directory") {
        if !same_ref(&op["firm"], firm) {
            return None;
        }
        (
            op["user"]["id"].as_str().map(String::from),
            op["summary"].as_str().unwrap_or_default().to_string(),
            refs(&op["about"]),
        )
    } else if d.kind == Some(AuditKind::Login) {
        if !same_ref(&detail["firm"], firm) {
            return None;
        }
        let user = detail["user"]["id"].as_str().map(String::from);
        let summary = format!("{} signed in", user.as_deref().unwrap_or("someone"));
        (user, summary, Vec::new())
    } else if d.kind == Some(AuditKind::Deploy) && d.action != "deploy_rejected" {
        // The rules every firm is under changed: when, and to which version. Not the
        // operator's message or token (they may name other firms' people), nor the attempts
        // that were refused (nothing changed).
        let version: String = d
            .version_after
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect();
        let summary = format!("the rules changed ({}): version {version}", d.action);
        (None, summary, Vec::new())
    } else {
        return None;
    };
    // A deploy came through an operator's token, whose name is the platform's business.
    let via = if d.kind == Some(AuditKind::Deploy) {
        "the platform".to_string()
    } else {
        d.actor.clone()
    };
    Some(ActivityEntry {
        seq: record.seq,
        at: record.at.clone(),
        kind: d.kind,
        user,
        via,
        summary,
        about,
    })
}

/// Whether `at` (RFC 3339) is within the query's dates; a bound given as a day covers it whole.
fn within(at: &str, query: &ActivityQuery) -> bool {
    let from_ok = query.from.as_deref().is_none_or(|from| at >= from);
    let to_ok = query
        .to
        .as_deref()
        .is_none_or(|to| at.get(..to.len()).unwrap_or(at) <= to);
    from_ok && to_ok
}

fn matches(entry: &ActivityEntry, query: &ActivityQuery) -> bool {
    let names = |type_name: &str, id: &str| {
        entry
            .about
            .iter()
            .any(|r| r.type_name == type_name && r.id == id)
    };
    let user_ok = query
        .user
        .as_deref()
        .is_none_or(|u| entry.user.as_deref() == Some(u) || names("User", u));
    let client_ok = query.client.as_deref().is_none_or(|c| names("Client", c));
    let kind_ok = query
        .kind
        .as_deref()
        .is_none_or(|k| entry.kind.is_some_and(|kind| kind.as_str() == k));
    user_ok && client_ok && kind_ok && within(&entry.at, query)
}

/// A query's kind and dates, checked: an unknown kind or a date that is neither a day
/// (`2026-12-01`) nor a UTC instant (`2026-12-01T10:00:00Z`, as records are written) is refused
/// rather than matching nothing, or the wrong records, silently.
pub fn check(query: &ActivityQuery) -> Result<(), String> {
    if let Some(kind) = &query.kind {
        if AuditKind::parse(kind).is_none() {
            return Err(format!(
                "kind `{kind}`: expected login, create, modify, delete or deploy"
            ));
        }
    }
    let day = |s: &str| {
        let b = s.as_bytes();
        b.len() == 10
            && b.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            })
    };
    for (name, value) in [("from", &query.from), ("to", &query.to)] {
        let Some(value) = value else { continue };
        let instant = value.len() > 11
            && value.get(..10).is_some_and(day)
            && value.as_bytes().get(10) == Some(&b'T')
            && value.ends_with('Z')
            && value.get(11..value.len() - 1).is_some_and(|t| {
                t.bytes()
                    .all(|c| c.is_ascii_digit() || c == b':' || c == b'.')
            });
        if !(day(value) || instant) {
            return Err(format!(
                "{name} `{value}`: expected a day (2026-12-01) or a UTC instant (2026-12-01T10:00:00Z)"
            ));
        }
    }
    Ok(())
}

/// Collects `firm`'s history from records read oldest first, page by page: the newest
/// `limit` entries that match, oldest first, holding no more than those in memory.
pub struct History<'q> {
    firm: &'q EntityRef,
    query: &'q ActivityQuery,
    limit: usize,
    kept: std::collections::VecDeque<ActivityEntry>,
}

impl<'q> History<'q> {
    pub fn new(firm: &'q EntityRef, query: &'q ActivityQuery) -> Self {
        Self {
            firm,
            query,
            limit: query.limit.unwrap_or(1_000).clamp(1, 10_000),
            kept: Default::default(),
        }
    }

    /// Reads the next page of records (oldest first).
    pub fn read(&mut self, records: &[AuditRecord]) {
        for entry in records
            .iter()
            .filter_map(|r| entry_of(r, self.firm))
            .filter(|e| matches(e, self.query))
        {
            if self.kept.len() == self.limit {
                self.kept.pop_front();
            }
            self.kept.push_back(entry);
        }
    }

    pub fn entries(self) -> Vec<ActivityEntry> {
        self.kept.into()
    }
}

/// `firm`'s history among `records` (oldest first), filtered: the newest `limit` entries,
/// oldest first.
pub fn history(
    records: &[AuditRecord],
    firm: &EntityRef,
    query: &ActivityQuery,
) -> Vec<ActivityEntry> {
    let mut history = History::new(firm, query);
    history.read(records);
    history.entries()
}

/// A CSV field: quoted when it holds a separator, a quote or a line break, and never read as a
/// formula by a spreadsheet (a leading `=`, `+`, `-`, `@`, tab or carriage return is prefixed
/// with `'`, as OWASP advises).
fn csv_field(text: &str) -> String {
    let text = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The entries as CSV, one header line then one line per entry.
pub fn to_csv(entries: &[ActivityEntry]) -> String {
    let mut out = String::from("seq,at,kind,user,via,summary,about\n");
    for e in entries {
        let about: Vec<String> = e.about.iter().map(ToString::to_string).collect();
        let fields = [
            e.seq.to_string(),
            e.at.clone(),
            e.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
            e.user.clone().unwrap_or_default(),
            e.via.clone(),
            e.summary.clone(),
            about.join(" "),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuditDraft;

    fn record(seq: u64, at: &str, kind: AuditKind, detail: Value) -> AuditRecord {
        AuditRecord {
            seq,
            at: at.into(),
            draft: AuditDraft {
                actor: "alice-session".into(),
                role: "member".into(),
                action: "apply_delta".into(),
                kind: Some(kind),
                version_before: None,
                version_after: None,
                detail,
            },
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn op(firm: &str, user: &str, summary: &str, about: &[(&str, &str)]) -> Value {
        let about: Vec<EntityRef> = about.iter().map(|(t, i)| EntityRef::new(*t, *i)).collect();
        serde_json::json!({"directory": directory_note(
            summary,
            &[],
            &EntityRef::new("Firm", firm),
            &EntityRef::new("User", user),
            &about,
        )})
    }

    #[test]
    fn a_firm_sees_its_own_records_filtered_by_user_client_kind_and_day() {
        let records = vec![
            record(
                1,
                "2026-11-30T10:00:00Z",
                AuditKind::Modify,
                op("dupont", "alice", "alice blocked dave", &[("User", "dave")]),
            ),
            record(
                2,
                "2026-12-01T09:00:00Z",
                AuditKind::Modify,
                op("martin", "uma", "uma blocked x", &[("User", "x")]),
            ),
            record(
                3,
                "2026-12-01T10:00:00Z",
                AuditKind::Modify,
                op(
                    "dupont",
                    "erin",
                    "erin detached carol from acme",
                    &[("User", "carol"), ("Client", "acme")],
                ),
            ),
            record(
                4,
                "2026-12-01T11:00:00Z",
                AuditKind::Login,
                serde_json::json!({"firm": {"type": "Firm", "id": "dupont"}, "user": {"type": "User", "id": "carol"}}),
            ),
            record(
                5,
                "2026-12-01T12:00:00Z",
                AuditKind::Login,
                serde_json::json!({}),
            ),
        ];
        let dupont = EntityRef::new("Firm", "dupont");
        let seqs = |q: ActivityQuery| -> Vec<u64> {
            history(&records, &dupont, &q)
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        assert_eq!(
            seqs(ActivityQuery::default()),
            [1, 3, 4],
            "never another firm's, never an operator's sign-in"
        );
        assert_eq!(
            seqs(ActivityQuery {
                user: Some("carol".into()),
                ..Default::default()
            }),
            [3, 4]
        );
        assert_eq!(
            seqs(ActivityQuery {
                user: Some("dave".into()),
                ..Default::default()
            }),
            [1]
        );
        assert_eq!(
            seqs(ActivityQuery {
                client: Some("acme".into()),
                ..Default::default()
            }),
            [3]
        );
        assert_eq!(
            seqs(ActivityQuery {
                kind: Some("login".into()),
                ..Default::default()
            }),
            [4]
        );
        assert_eq!(
            seqs(ActivityQuery {
                from: Some("2026-12-01".into()),
                ..Default::default()
            }),
            [3, 4]
        );
        assert_eq!(
            seqs(ActivityQuery {
                to: Some("2026-11-30".into()),
                ..Default::default()
            }),
            [1]
        );
        assert_eq!(
            seqs(ActivityQuery {
                limit: Some(1),
                ..Default::default()
            }),
            [4],
            "the newest"
        );
    }

    #[test]
    fn deploys_show_when_the_rules_changed_not_who_said_what() {
        let mut deploy = record(
            1,
            "2026-12-01T10:00:00Z",
            AuditKind::Deploy,
            serde_json::json!({"message": "carol of Martin asked for it"}),
        );
        deploy.draft.action = "deploy".into();
        deploy.draft.actor = "ops-token".into();
        deploy.draft.version_after = Some("sha256:0123456789abcdef".into());
        let mut rejected = deploy.clone();
        rejected.seq = 2;
        rejected.draft.action = "deploy_rejected".into();
        let firm = EntityRef::new("Firm", "dupont");
        let entries = history(&[deploy, rejected], &firm, &ActivityQuery::default());
        assert_eq!(entries.len(), 1, "a refused deploy changed nothing");
        assert_eq!(
            entries[0].summary,
            "the rules changed (deploy): version 0123456789ab"
        );
        assert_eq!(entries[0].via, "the platform");
    }

    #[test]
    fn unknown_kinds_and_dates_with_offsets_are_refused() {
        let q = |kind: Option<&str>, from: Option<&str>| ActivityQuery {
            kind: kind.map(String::from),
            from: from.map(String::from),
            ..Default::default()
        };
        assert!(check(&q(Some("modify"), Some("2026-12-01"))).is_ok());
        assert!(check(&q(None, Some("2026-12-01T10:00:00Z"))).is_ok());
        assert!(check(&q(Some("everything"), None)).is_err());
        assert!(check(&q(None, Some("2026-12-01T10:00:00+02:00"))).is_err());
        assert!(check(&q(None, Some("yesterday"))).is_err());
    }

    #[test]
    fn csv_quotes_what_it_must_and_writes_no_formula() {
        let entry = ActivityEntry {
            seq: 7,
            at: "2026-12-01T10:00:00Z".into(),
            kind: Some(AuditKind::Modify),
            user: Some("alice".into()),
            via: "alice-session".into(),
            summary: "=HYPERLINK(\"x\"), then \"more\"".into(),
            about: vec![EntityRef::new("User", "dave")],
        };
        let csv = to_csv(&[entry]);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("seq,at,kind,user,via,summary,about"));
        assert_eq!(
            lines.next(),
            Some("7,2026-12-01T10:00:00Z,modify,alice,alice-session,\"'=HYPERLINK(\"\"x\"\"), then \"\"more\"\"\",\"User::\"\"dave\"\"\"")
        );
    }
}
