//! The audit chain: every admin action is a record whose hash covers its content and the hash of
//! the record before it, so editing, removing or reordering a stored record breaks the chain
//! from that point on. Drivers store records; this module alone computes and checks hashes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an admin action records; the driver adds `seq`, `at` and the hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditDraft {
    /// Token name, or `bootstrap` for what the server does itself at start.
    pub actor: String,
    pub role: String,
    /// `deploy`, `deploy_rejected`, `activate`, `rollback`, `replace_entities`, ...
    pub action: String,
    /// What the action did, for filtering; `None` only in records written before kinds were
    /// recorded. Hashed when present, so that it cannot be changed unseen either, and left out
    /// when absent, so that older records keep their hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AuditKind>,
    pub version_before: Option<String>,
    pub version_after: Option<String>,
    pub detail: Value,
}

/// What an audited action did, in the words of the activity history's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A sign-in.
    Login,
    /// Entities created (a user invited, a profile saved, the data loaded).
    Create,
    Modify,
    Delete,
    /// The active version moved, or a deploy was tried (deploy, activate, rollback, rejected).
    Deploy,
}

impl AuditKind {
    const ALL: [Self; 5] = [
        Self::Login,
        Self::Create,
        Self::Modify,
        Self::Delete,
        Self::Deploy,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Create => "create",
            Self::Modify => "modify",
            Self::Delete => "delete",
            Self::Deploy => "deploy",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: String,
    #[serde(flatten)]
    pub draft: AuditDraft,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// Seals a draft as the record after `prev_hash`.
    pub fn seal(seq: u64, at: String, draft: AuditDraft, prev_hash: &str) -> Self {
        let hash = record_hash(seq, &at, &draft, prev_hash);
        Self {
            seq,
            at,
            draft,
            prev_hash: prev_hash.to_string(),
            hash,
        }
    }
}

fn record_hash(seq: u64, at: &str, draft: &AuditDraft, prev_hash: &str) -> String {
    // serde_json writes struct fields in declaration order and `Value` maps sorted: canonical.
    let body = serde_json::json!({ "seq": seq, "at": at, "draft": draft });
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainCheck {
    pub ok: bool,
    pub records: u64,
    /// The first record that does not follow from its predecessor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub broken_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<String>,
    /// Hash of the last record: publish it elsewhere to also detect truncation.
    pub head: String,
}

/// Checks records in order (as the store returns them, all of them).
pub fn verify<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> ChainCheck {
    let mut prev = GENESIS.to_string();
    let mut count = 0;
    for (expected_seq, record) in (1u64..).zip(records) {
        count += 1;
        let problem = if record.seq != expected_seq {
            Some(format!(
                "record {} found where {expected_seq} was expected (removed or reordered)",
                record.seq
            ))
        } else if record.prev_hash != prev {
            Some(format!(
                "record {} does not point at the hash of record {}",
                record.seq,
                expected_seq - 1
            ))
        } else if record_hash(record.seq, &record.at, &record.draft, &record.prev_hash)
            != record.hash
        {
            Some(format!(
                "record {}'s content does not match its hash (edited)",
                record.seq
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            return ChainCheck {
                ok: false,
                records: count,
                broken_at: Some(record.seq),
                reason: Some(reason),
                head: prev,
            };
        }
        prev = record.hash.clone();
    }
    ChainCheck {
        ok: true,
        records: count,
        broken_at: None,
        reason: None,
        head: prev,
    }
}

/// Checks the chain and that `head`, a record hash published earlier, is still in it: a chain
/// whose last records were deleted still links up, only a head kept elsewhere shows it is
/// shorter than it was.
pub fn verify_with_head<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    head: &str,
) -> ChainCheck {
    let records: Vec<&AuditRecord> = records.into_iter().collect();
    let check = verify(records.iter().copied());
    if !check.ok {
        return check;
    }
    let head = head.trim().to_ascii_lowercase();
    if head == GENESIS || records.iter().any(|r| r.hash == head) {
        return check;
    }
    ChainCheck {
        ok: false,
        records: check.records,
        broken_at: Some(check.records + 1),
        reason: Some(format!(
            "the published head {head} is not in the chain: records were removed from its end \
             (it now ends at record {}), or the chain was rewritten",
            check.records
        )),
        head: check.head,
    }
}

/// The chain's last record, for publishing outside the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditHead {
    /// 0 for an empty chain.
    pub seq: u64,
    /// [`GENESIS`] for an empty chain.
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub at: Option<String>,
}

impl AuditHead {
    pub fn of(last: Option<&AuditRecord>) -> Self {
        match last {
            Some(r) => Self {
                seq: r.seq,
                hash: r.hash.clone(),
                at: Some(r.at.clone()),
            },
            None => Self {
                seq: 0,
                hash: GENESIS.to_string(),
                at: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(action: &str) -> AuditDraft {
        AuditDraft {
            actor: "ci".into(),
            role: "deployer".into(),
            action: action.into(),
            kind: Some(AuditKind::Deploy),
            version_before: None,
            version_after: Some("abc".into()),
            detail: serde_json::json!({"message": "m"}),
        }
    }

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map_or(GENESIS.to_string(), |r| r.hash.clone());
            out.push(AuditRecord::seal(
                seq,
                format!("t{seq}"),
                draft("deploy"),
                &prev,
            ));
        }
        out
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let records = chain(5);
        let check = verify(&records);
        assert!(check.ok, "{check:?}");
        assert_eq!(check.records, 5);
        assert_eq!(check.head, records[4].hash);
    }

    #[test]
    fn an_edited_record_breaks_the_chain_there() {
        let mut records = chain(5);
        records[2].draft.actor = "mallory".into();
        let check = verify(&records);
        assert_eq!(check.broken_at, Some(3), "{check:?}");
    }

    #[test]
    fn a_removed_record_breaks_the_chain() {
        let mut records = chain(5);
        records.remove(1);
        assert_eq!(verify(&records).broken_at, Some(3));
    }

    #[test]
    fn a_truncated_chain_is_caught_only_by_a_published_head() {
        let mut records = chain(5);
        let head = records[4].hash.clone();
        assert!(verify_with_head(&records, &head).ok);
        records.pop();
        assert!(verify(&records).ok, "the shorter chain still links up");
        let check = verify_with_head(&records, &head);
        assert!(!check.ok);
        assert_eq!(check.broken_at, Some(5), "{check:?}");
        // An older head is still in a longer chain.
        assert!(verify_with_head(&records, &records[1].hash.clone()).ok);
    }

    #[test]
    fn a_rehashed_edit_is_still_caught_by_the_next_record() {
        let mut records = chain(4);
        records[1].draft.action = "rollback".into();
        let prev = records[0].hash.clone();
        records[1] = AuditRecord::seal(2, records[1].at.clone(), records[1].draft.clone(), &prev);
        assert_eq!(verify(&records).broken_at, Some(3));
    }

    #[test]
    fn a_record_without_a_kind_keeps_the_hash_it_was_sealed_with() {
        // The body records were hashed over before kinds existed, written out by hand.
        let body = serde_json::json!({"seq": 1, "at": "t1", "draft": {
            "actor": "ci", "role": "deployer", "action": "deploy", "version_before": null,
            "version_after": "abc", "detail": {"message": "m"}}});
        let mut hasher = Sha256::new();
        hasher.update(format!("{GENESIS}\n{body}").as_bytes());
        let old_hash = hex::encode(hasher.finalize());
        let record = AuditRecord::seal(
            1,
            "t1".into(),
            AuditDraft {
                kind: None,
                ..draft("deploy")
            },
            GENESIS,
        );
        assert_eq!(record.hash, old_hash);
        assert!(verify([&record]).ok);
    }

    #[test]
    fn an_edited_kind_breaks_the_chain_there() {
        let mut records = chain(3);
        records[1].draft.kind = Some(AuditKind::Login);
        assert_eq!(verify(&records).broken_at, Some(2));
        records[1].draft.kind = None;
        assert_eq!(verify(&records).broken_at, Some(2), "nor can it be dropped");
    }

    #[test]
    fn kinds_are_named_in_snake_case() {
        for kind in AuditKind::ALL {
            let json = serde_json::to_value(kind).unwrap_or_default();
            assert_eq!(json, kind.as_str());
            assert_eq!(AuditKind::parse(kind.as_str()), Some(kind));
        }
    }
}
