//! Many decisions in one call (`/v1/decide/batch`, `/v1/matrix`), within two budgets: each item
//! (a batch's request, a matrix's resource row) gets one evaluation budget, and the whole call
//! gets the batch budget, cut to the request's deadline.
//!
//! The items go to the guest in chunks (one guest call for many cheap items), each chunk under
//! one evaluation budget. A chunk that runs out of time, or that the guest refuses (an item
//! that does not parse), is run again item by item, each under its own budget: a slow or
//! malformed item fails alone, and no item ever runs longer than one budget. When the call's
//! budget is spent, a batch answers the items not evaluated with `budget_exceeded` errors and a
//! matrix (a page needs all of it) answers 408 `budget_exceeded`; the guest call running at that
//! moment is cut at the same instant, so nothing runs on after the answer.
//!
//! The work is done in slices of about [`SLICE`]: a worker is held for one slice, then given
//! back to the queue (the semaphore is fair), so that two slow batches on a two-worker server
//! still let every other caller through between two slices.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use policy_core::json_api::Op;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::budget::{is_deadline, Budget};
use super::entity_ids::{may_hold_controls, refuse_controls};
use super::error::ApiError;
use super::state::{pool_error, Active};
use super::workers::Session;
use crate::guest::GuestAnswer;

/// How long a batch holds a worker before it lets others take their turn.
const SLICE: Duration = Duration::from_millis(20);
/// Items of a batch per guest call on the fast path.
const CHUNK_ITEMS: usize = 64;
/// Cells (actions and fields × resources) of a matrix per guest call on the fast path.
const CHUNK_CELLS: usize = 256;

/// Work left to do: item indices, evaluated together or alone.
enum Work {
    Chunk(Vec<usize>),
    One(usize),
}

/// What became of one piece of work.
enum Outcome {
    Done,
    /// The call's budget ran out under it: given back, not evaluated.
    Spent(Work),
    /// To be done again as these smaller pieces, first.
    Again(Vec<Work>),
}

/// The limits a call runs under.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// One item's evaluation budget.
    pub eval: Duration,
    /// The whole call's.
    pub call: Budget,
}

/// Runs the queued work in slices on the active pool until it is done or the call's budget is
/// spent; what is left in `queue` was not evaluated.
async fn in_slices(
    active: &Active,
    budgets: Budgets,
    queue: &mut VecDeque<Work>,
    mut step: impl FnMut(&mut Session<'_>, Work, Duration) -> Result<Outcome, ApiError> + Send,
) -> Result<(), ApiError> {
    while !queue.is_empty() {
        let slice = active.pool.session(|session| {
            let started = Instant::now();
            while let Some(work) = queue.pop_front() {
                let Some(limit) = budgets.call.limit(budgets.eval) else {
                    queue.push_front(work);
                    return Ok(true);
                };
                match step(session, work, limit.deadline)? {
                    Outcome::Done => {}
                    Outcome::Spent(work) => {
                        queue.push_front(work);
                        return Ok(true);
                    }
                    Outcome::Again(parts) => {
                        for part in parts.into_iter().rev() {
                            queue.push_front(part);
                        }
                    }
                }
                if started.elapsed() >= SLICE {
                    break;
                }
            }
            Ok(false)
        });
        // Waiting for a worker counts against the budget too.
        match tokio::time::timeout_at(budgets.call.end().into(), slice).await {
            Err(_) | Ok(Ok(Ok(true))) => return Ok(()),
            Ok(Ok(Ok(false))) => {}
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(e)) => return Err(pool_error(e)),
        }
    }
    Ok(())
}

/// The items of a guest answer under `key` (`results`, `rows`), as JSON text, which must be
/// `n`; `principal` is read too for a matrix. Raw text: the items are copied into the answer,
/// never built into `Value`s.
#[derive(Deserialize)]
struct GuestItems<'a> {
    #[serde(borrow, alias = "rows")]
    results: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    principal: Option<&'a RawValue>,
}

fn guest_items(json: &str, n: usize) -> Result<GuestItems<'_>, ApiError> {
    let items: GuestItems<'_> = serde_json::from_str(json).map_err(|e| {
        ApiError::Internal(format!("the guest answered JSON that does not parse: {e}"))
    })?;
    if items.results.len() != n {
        return Err(ApiError::Internal(format!(
            "the guest answered {} items for {n}",
            items.results.len()
        )));
    }
    Ok(items)
}

fn one_by_one(ids: Vec<usize>) -> Outcome {
    Outcome::Again(ids.into_iter().map(Work::One).collect())
}

/// `[a,b,...]` from JSON texts.
fn json_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item);
    }
    out.push(']');
    out
}

/// Decides every request of a batch (each the JSON text of one request, as received);
/// answers `{"results": [...], "bundle_digest"}` with one result per request, in order: a
/// decision, or `{"error": {code, message}}`. The requests and results pass through as text:
/// only a request that may hold a control character is parsed here.
pub async fn decide_batch(
    active: &Active,
    requests: &[&RawValue],
    budgets: Budgets,
) -> Result<String, ApiError> {
    let mut results: Vec<Option<String>> = vec![None; requests.len()];
    let mut pending = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let refused = match may_hold_controls(request.get()) {
            true => serde_json::from_str::<Value>(request.get())
                .ok()
                .and_then(|v| refuse_controls(&v, &format!("requests[{i}]")).err()),
            false => None,
        };
        match refused {
            None => pending.push(i),
            Some(e) => results[i] = Some(e.batch_item().to_string()),
        }
    }
    let mut queue: VecDeque<Work> = pending
        .chunks(CHUNK_ITEMS)
        .map(|ids| Work::Chunk(ids.to_vec()))
        .collect();
    in_slices(active, budgets, &mut queue, |session, work, deadline| {
        let (op, input) = match &work {
            Work::Chunk(ids) => {
                let chunk = json_array(ids.iter().map(|&i| requests[i].get()));
                (Op::Batch, format!("{{\"requests\":{chunk}}}"))
            }
            Work::One(i) => (Op::Decide, requests[*i].get().to_string()),
        };
        let answer = session.call(op, &input, deadline);
        let cut = deadline < budgets.eval;
        Ok(match (work, answer) {
            (work, Err(e)) if cut && is_deadline(&e) => Outcome::Spent(work),
            (Work::Chunk(ids), Ok(GuestAnswer::Ok(json))) => {
                let items = guest_items(&json, ids.len())?;
                for (i, item) in ids.into_iter().zip(items.results) {
                    results[i] = Some(item.get().to_string());
                }
                Outcome::Done
            }
            // A malformed item makes the guest refuse the whole chunk, a slow one makes it run
            // out of time: each item again, alone, under its own budget.
            (Work::Chunk(ids), Ok(GuestAnswer::EngineError(_))) => one_by_one(ids),
            (Work::Chunk(ids), Err(e)) if is_deadline(&e) => one_by_one(ids),
            (Work::One(i), Ok(GuestAnswer::Ok(json))) => {
                results[i] = Some(json);
                Outcome::Done
            }
            (Work::One(i), Ok(GuestAnswer::EngineError(json))) => {
                results[i] = Some(format!("{{\"error\":{json}}}"));
                Outcome::Done
            }
            (Work::One(i), Err(e)) if is_deadline(&e) => {
                results[i] = Some(ApiError::Deadline.batch_item().to_string());
                Outcome::Done
            }
            (_, Err(e)) => return Err(pool_error(e)),
        })
    })
    .await?;
    let spent = ApiError::BudgetExceeded(budgets.call.total())
        .batch_item()
        .to_string();
    let results = json_array(results.iter().map(|r| r.as_deref().unwrap_or(&spent)));
    let digest = Value::String(active.version.digest.clone());
    Ok(format!(
        "{{\"results\":{results},\"bundle_digest\":{digest}}}"
    ))
}

/// Answers a matrix request, its resources split in chunks of rows. All or nothing: an engine
/// error fails the matrix as before, a row past its budget is 504 `deadline_exceeded`, a
/// matrix past the call's budget 408 `budget_exceeded`.
pub async fn matrix(
    active: &Active,
    request: &Value,
    budgets: Budgets,
) -> Result<String, ApiError> {
    let len = |key: &str| request[key].as_array().map_or(0, Vec::len);
    let Some(resources) = request["resources"].as_array() else {
        // Let the engine say what is wrong with it, as for any malformed request.
        return one_matrix_call(active, request, budgets).await;
    };
    let row_cells = (len("actions") + len("fields")).max(1);
    let rows_per_chunk = (CHUNK_CELLS / row_cells).max(1);
    let all: Vec<usize> = (0..resources.len()).collect();
    let mut queue: VecDeque<Work> = all
        .chunks(rows_per_chunk)
        .map(|ids| Work::Chunk(ids.to_vec()))
        .collect();
    if queue.is_empty() {
        return one_matrix_call(active, request, budgets).await;
    }
    let mut rows: Vec<Option<String>> = vec![None; resources.len()];
    let mut principal = String::from("null");
    in_slices(active, budgets, &mut queue, |session, work, deadline| {
        let ids = match &work {
            Work::Chunk(ids) => ids.clone(),
            Work::One(i) => vec![*i],
        };
        let mut input = request.clone();
        input["resources"] = Value::Array(ids.iter().map(|&i| resources[i].clone()).collect());
        let answer = session.call(Op::Matrix, &input.to_string(), deadline);
        let cut = deadline < budgets.eval;
        Ok(match answer {
            Ok(GuestAnswer::Ok(json)) => {
                let items = guest_items(&json, ids.len())?;
                if let Some(p) = items.principal {
                    principal = p.get().to_string();
                }
                for (i, row) in ids.into_iter().zip(items.results) {
                    rows[i] = Some(row.get().to_string());
                }
                Outcome::Done
            }
            Ok(GuestAnswer::EngineError(json)) => return Err(ApiError::Engine(json)),
            Err(e) if cut && is_deadline(&e) => Outcome::Spent(work),
            Err(e) if is_deadline(&e) => match work {
                Work::Chunk(ids) if ids.len() > 1 => one_by_one(ids),
                _ => return Err(ApiError::Deadline),
            },
            Err(e) => return Err(pool_error(e)),
        })
    })
    .await?;
    if !queue.is_empty() {
        return Err(ApiError::BudgetExceeded(budgets.call.total()));
    }
    let rows = json_array(rows.iter().flatten().map(String::as_str));
    let digest = Value::String(active.version.digest.clone());
    Ok(format!(
        "{{\"principal\":{principal},\"rows\":{rows},\"bundle_digest\":{digest}}}"
    ))
}

/// A matrix request sent whole: one guest call under one evaluation budget.
async fn one_matrix_call(
    active: &Active,
    request: &Value,
    budgets: Budgets,
) -> Result<String, ApiError> {
    let limit = budgets
        .call
        .limit(budgets.eval)
        .ok_or(ApiError::BudgetExceeded(budgets.call.total()))?;
    let answer = active
        .pool
        .session(|session| session.call(Op::Matrix, &request.to_string(), limit.deadline))
        .await
        .and_then(|r| r)
        .map_err(|e| {
            if limit.spent_enclosing(&e) {
                ApiError::BudgetExceeded(budgets.call.total())
            } else {
                pool_error(e)
            }
        })?;
    match answer {
        GuestAnswer::Ok(json) => Ok(json),
        GuestAnswer::EngineError(json) => Err(ApiError::Engine(json)),
    }
}
