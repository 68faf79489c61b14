//! The query benchmark, run by `sesame bench` on the same generated firm: listing the documents
//! one user may view (`Engine::query_resources`, every page) against deciding every document
//! one by one for that user (what a client without the list query does), and a SQL plan
//! (`Engine::query_plan`). The list must equal the one-by-one set: a disagreement fails.

use std::collections::BTreeSet;
use std::time::Instant;

use policy_core::wire::{
    Decision, DecisionRequest, EntityRef, PlanRequest, ResourceQuery, SqlDialect, SqlMapping,
    TableMapping,
};
use policy_core::{Engine, EngineError};
use serde::Serialize;

use crate::firm_gen::FirmSize;

#[derive(Debug, Clone, Serialize)]
pub struct QueryBenchReport {
    pub documents: usize,
    /// Users listed (internal users of the firm: administrators, managers, accountants).
    pub users: usize,
    /// Documents listed per user, mean.
    pub listed_mean: f64,
    /// Listing one user's documents, every page: median over users and rounds.
    pub list_ms: f64,
    /// Deciding every document for one user, one `decide` each (one user, once).
    pub one_by_one_ms: f64,
    pub ratio_list_vs_one_by_one: f64,
    /// `query_plan` with a SQL mapping: median over users and rounds.
    pub plan_us: f64,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn listed(engine: &Engine, user: &EntityRef) -> Result<Vec<EntityRef>, EngineError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine.query_resources(&ResourceQuery {
            principal: user.clone(),
            action: EntityRef::new("Action", "view_document"),
            resource_type: "Document".into(),
            context: None,
            limit: Some(1_000),
            cursor,
        })?;
        out.extend(page.resources);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}

/// A mapping of documents and clients (the plan's SQL is built, not run, here).
fn mapping() -> SqlMapping {
    let table = |name: &str, columns: &[(&str, &str)]| TableMapping {
        table: name.into(),
        id: "id".into(),
        columns: columns
            .iter()
            .map(|(a, c)| (a.to_string(), c.to_string()))
            .collect(),
        sets: Default::default(),
        ancestors: None,
    };
    let mut client = vec![("firm", "firm_id"), ("plan", "plan_id")];
    let teams: Vec<(String, String)> = crate::firm_gen::TEAM_ROLES
        .iter()
        .map(|t| (format!("teams.{t}"), format!("team_{t}")))
        .collect();
    client.extend(teams.iter().map(|(a, c)| (a.as_str(), c.as_str())));
    let mut client = table("clients", &client);
    client.sets.insert(
        "detached".into(),
        policy_core::wire::JoinTable {
            table: "client_detached".into(),
            owner: "client_id".into(),
            value: "user_id".into(),
        },
    );
    let mut plan = table("plans", &[]);
    plan.sets.insert(
        "client_roles".into(),
        policy_core::wire::JoinTable {
            table: "plan_client_roles".into(),
            owner: "plan_id".into(),
            value: "role".into(),
        },
    );
    let mut document = table(
        "documents",
        &[
            ("client", "client_id"),
            ("kind", "kind"),
            ("archived", "archived"),
        ],
    );
    // Department-restricted users see documents under their departments: Cedar's `in`.
    document.ancestors = Some(policy_core::wire::JoinTable {
        table: "document_ancestors".into(),
        owner: "document_id".into(),
        value: "ancestor_id".into(),
    });
    SqlMapping {
        dialect: SqlDialect::Postgres,
        tables: [
            ("Document".to_string(), document),
            ("Client".to_string(), client),
            ("Plan".to_string(), plan),
        ]
        .into_iter()
        .collect(),
    }
}

/// Runs the query benchmark on `engine` holding the generated bench firm of `size`.
pub fn run(
    engine: &Engine,
    size: FirmSize,
    rounds: usize,
) -> Result<QueryBenchReport, crate::bench::BenchError> {
    // Internal users only (every fifth is a client's staff); a few, spread over the firm.
    let users: Vec<EntityRef> = (0..size.users)
        .filter(|u| u % 5 != 4)
        .step_by((size.users / 12).max(1))
        .map(|u| EntityRef::new("User", format!("u{u}")))
        .collect();
    let documents: Vec<EntityRef> = (0..size.documents)
        .map(|d| EntityRef::new("Document", format!("doc{d}")))
        .collect();

    // One user decided document by document: the reference the list must equal.
    let first = users
        .first()
        .cloned()
        .unwrap_or_else(|| EntityRef::new("User", "u0"));
    let started = Instant::now();
    let mut one_by_one = BTreeSet::new();
    for document in &documents {
        let answer = engine.decide(&DecisionRequest {
            principal: first.clone(),
            action: EntityRef::new("Action", "view_document"),
            resource: document.clone(),
            context: None,
            entities: Vec::new(),
        })?;
        if answer.decision == Decision::Allow {
            one_by_one.insert(document.clone());
        }
    }
    let one_by_one_ms = started.elapsed().as_secs_f64() * 1e3;
    let listed_first: BTreeSet<EntityRef> = listed(engine, &first)?.into_iter().collect();
    if listed_first != one_by_one {
        return Err(crate::bench::BenchError::QueryDisagrees(first.to_string()));
    }

    let mapping = mapping();
    let mut list_ms = Vec::new();
    let mut plan_us = Vec::new();
    let mut listed_total = 0usize;
    for round in 0..rounds.max(1) {
        for user in &users {
            let started = Instant::now();
            let list = listed(engine, user)?;
            list_ms.push(started.elapsed().as_secs_f64() * 1e3);
            if round == 0 {
                listed_total += list.len();
            }
            let started = Instant::now();
            let plan = engine.query_plan(&PlanRequest {
                principal: user.clone(),
                action: EntityRef::new("Action", "view_document"),
                resource_type: "Document".into(),
                context: None,
                sql: Some(mapping.clone()),
            })?;
            plan_us.push(started.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(plan);
        }
    }
    let list_ms = median(list_ms);
    Ok(QueryBenchReport {
        documents: documents.len(),
        users: users.len(),
        listed_mean: listed_total as f64 / users.len().max(1) as f64,
        list_ms,
        one_by_one_ms,
        ratio_list_vs_one_by_one: list_ms / one_by_one_ms,
        plan_us: median(plan_us),
    })
}
