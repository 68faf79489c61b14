//! `sesame loadtest`: load on a running server from a second process, compared in the same run
//! with native policy-core called in process on the same requests and entities.
//!
//! Phases, each for a fixed duration with `concurrency` client threads on keep-alive
//! connections: single decisions, batches, and single decisions while another thread keeps
//! switching the active version (deploys under load). Latencies are measured by the client
//! (full HTTP round trip on 127.0.0.1).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use policy_core::wire::DecisionRequest;
use policy_core::{Bundle, Engine};
use serde::Serialize;
use serde_json::{json, Value};

use crate::firm_gen::{self, FirmSize};
use host_server::client::{ApiClient, ClientError};

#[derive(Clone)]
pub struct LoadPlan {
    pub size: FirmSize,
    pub requests: usize,
    pub concurrency: usize,
    pub duration: Duration,
    pub batch: usize,
    /// Other replicas of the same store: a last phase spreads the client threads over the
    /// server and these, to compare decisions/s with one replica and with all.
    pub replicas: Vec<ApiClient>,
    /// The server already holds the generated firm (`sesame serve --entities` with a
    /// `gen-firm --entities-only` file of the same sizes): it is not sent again.
    pub keep_entities: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the server refused {what}: {status} {body}")]
    Refused {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("native engine: {0}")]
    Native(String),
    #[error("a load thread panicked")]
    Thread,
    #[error("replica {0} did not catch up with the generated entities")]
    Lagging(String),
}

/// Throughput and client-side latency of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub calls: u64,
    pub decisions_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub entities: usize,
    pub native: Phase,
    pub single: Phase,
    pub batch: Phase,
    pub during_deploys: Phase,
    pub activations_during_load: u64,
    /// Single decisions spread over every replica (absent without `replicas`).
    pub all_replicas: Option<Phase>,
    pub replica_count: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn phase(
    name: &str,
    mut latencies_us: Vec<f64>,
    decisions: u64,
    elapsed: Duration,
    failed: u64,
) -> Phase {
    latencies_us.sort_by(f64::total_cmp);
    Phase {
        name: name.to_string(),
        calls: latencies_us.len() as u64,
        decisions_per_s: decisions as f64 / elapsed.as_secs_f64().max(1e-9),
        p50_us: percentile(&latencies_us, 0.50),
        p99_us: percentile(&latencies_us, 0.99),
        failed,
    }
}

pub fn run(client: &ApiClient, bundle: Bundle, plan: &LoadPlan) -> Result<LoadReport, LoadError> {
    let entities = firm_gen::firm_entities(plan.size);
    let n_entities = entities.len();
    let put = match plan.keep_entities {
        true => None,
        false => Some(client.send(
            "PUT",
            "/v1/entities",
            Some(&Value::Array(entities.clone()).to_string()),
        )?),
    };
    if let Some(put) = put.filter(|p| !p.ok()) {
        return Err(LoadError::Refused {
            what: "the generated entities",
            status: put.status,
            body: put.body.to_string(),
        });
    }
    let decisions = firm_gen::requests(plan.size, plan.requests);
    let requests: Arc<Vec<String>> =
        Arc::new(decisions.iter().map(|r| json!(r).to_string()).collect());
    let native = native_phase(bundle, entities, &decisions, plan.duration)?;
    let one = std::slice::from_ref(client);
    let single = load_phase("server single", one, plan, &requests, 1, None)?;
    let batch = load_phase("server batch", one, plan, &requests, plan.batch, None)?;
    let activations = Arc::new(AtomicU64::new(0));
    let during_deploys = load_phase(
        "server single, deploys",
        one,
        plan,
        &requests,
        1,
        Some(activations.clone()),
    )?;
    let all_replicas = if plan.replicas.is_empty() {
        None
    } else {
        let mut clients = vec![client.clone()];
        clients.extend(plan.replicas.iter().cloned());
        for replica in &plan.replicas {
            caught_up(client, replica, &requests)?;
        }
        let name = format!("server single, {} replicas", clients.len());
        Some(load_phase(&name, &clients, plan, &requests, 1, None)?)
    };
    Ok(LoadReport {
        entities: n_entities,
        native,
        single,
        batch,
        during_deploys,
        activations_during_load: activations.load(Ordering::Relaxed),
        all_replicas,
        replica_count: plan.replicas.len() + 1,
    })
}

/// Waits until `replica` answers the first requests as `primary` does: it has followed the
/// generated entities through the shared store.
fn caught_up(
    primary: &ApiClient,
    replica: &ApiClient,
    requests: &[String],
) -> Result<(), LoadError> {
    let answers = |c: &ApiClient| -> Result<Vec<String>, LoadError> {
        requests
            .iter()
            .take(50)
            .map(|r| {
                let (_, body, _) = c.send_text("POST", "/v1/decide", Some(r), &[])?;
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                Ok(format!("{} {}", v["decision"], v["bundle_digest"]))
            })
            .collect()
    };
    let expected = answers(primary)?;
    let started = Instant::now();
    while answers(replica)? != expected {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(LoadError::Lagging(replica.base().to_string()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

/// policy-core in this process, one thread, the same requests: the floor the server adds to.
fn native_phase(
    bundle: Bundle,
    entities: Vec<Value>,
    requests: &[DecisionRequest],
    duration: Duration,
) -> Result<Phase, LoadError> {
    let engine =
        Engine::with_entities(bundle, entities).map_err(|e| LoadError::Native(e.to_string()))?;
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failed = 0;
    'outer: loop {
        for r in requests {
            let t = Instant::now();
            if engine.decide(r).is_err() {
                failed += 1;
            }
            latencies.push(t.elapsed().as_secs_f64() * 1e6);
            if started.elapsed() >= duration {
                break 'outer;
            }
        }
    }
    let n = latencies.len() as u64;
    Ok(phase(
        "native policy-core",
        latencies,
        n,
        started.elapsed(),
        failed,
    ))
}

/// `concurrency` threads for `plan.duration`: single decisions (`batch == 1`) or batches, thread
/// `t` on `clients[t % n]`. With `switch`, one more thread keeps activating the other of two
/// versions (through the first client).
fn load_phase(
    name: &str,
    clients: &[ApiClient],
    plan: &LoadPlan,
    requests: &Arc<Vec<String>>,
    batch: usize,
    switch: Option<Arc<AtomicU64>>,
) -> Result<Phase, LoadError> {
    let stop = Arc::new(AtomicBool::new(false));
    let first = clients.first().ok_or(LoadError::Thread)?;
    let switcher = match &switch {
        Some(count) => Some(start_switching(first, stop.clone(), count.clone())?),
        None => None,
    };
    // Warm-up (connections, caches, instances catching up with the entity write), unmeasured.
    for client in clients {
        for r in requests.iter().take(200) {
            client.send_text("POST", "/v1/decide", Some(r), &[])?;
        }
    }
    let started = Instant::now();
    let threads: Vec<_> = (0..plan.concurrency.max(1))
        .map(|t| {
            let client = clients[t % clients.len()].clone();
            let (requests, duration) = (requests.clone(), plan.duration);
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let (mut decisions, mut failed) = (0u64, 0u64);
                let mut i = t * 7919;
                let begun = Instant::now();
                while begun.elapsed() < duration {
                    let (path, body, n) = if batch <= 1 {
                        i += 1;
                        ("/v1/decide", requests[i % requests.len()].clone(), 1)
                    } else {
                        let items: Vec<&str> = (0..batch)
                            .map(|k| requests[(i + k) % requests.len()].as_str())
                            .collect();
                        i += batch;
                        (
                            "/v1/decide/batch",
                            format!("{{\"requests\":[{}]}}", items.join(",")),
                            batch as u64,
                        )
                    };
                    let t0 = Instant::now();
                    match client.send_text("POST", path, Some(&body), &[]) {
                        Ok((200, _, _)) => decisions += n,
                        _ => failed += 1,
                    }
                    latencies.push(t0.elapsed().as_secs_f64() * 1e6);
                }
                (latencies, decisions, failed)
            })
        })
        .collect();
    let mut all = Vec::new();
    let (mut decisions, mut failed) = (0, 0);
    for t in threads {
        let (l, d, f) = t.join().map_err(|_| LoadError::Thread)?;
        all.extend(l);
        decisions += d;
        failed += f;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(handle) = switcher {
        handle.join().map_err(|_| LoadError::Thread)??;
    }
    Ok(phase(name, all, decisions, elapsed, failed))
}

/// Stores a variant of the active bundle (one extra comment-only file) and keeps activating
/// the two in turn until `stop`, then leaves the original active.
fn start_switching(
    client: &ApiClient,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Result<std::thread::JoinHandle<Result<(), LoadError>>, LoadError> {
    let active = client.get("/v1/bundle/active")?;
    let original = active
        .etag
        .clone()
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let mut files = active.body["files"].clone();
    files["loadtest-variant.cedar"] =
        json!("// a second version for the deploy-under-load phase\n");
    let deployed = client.post(
        "/v1/admin/deploy",
        &json!({"files": files, "message": "loadtest variant", "activate": false}),
    )?;
    if !deployed.ok() {
        return Err(LoadError::Refused {
            what: "the variant deploy",
            status: deployed.status,
            body: deployed.body.to_string(),
        });
    }
    let variant = deployed.body["version"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let client = client.clone();
    Ok(std::thread::spawn(move || {
        let mut flip = true;
        while !stop.load(Ordering::Relaxed) {
            let target = if flip { &variant } else { &original };
            let r = client.post("/v1/admin/activate", &json!({ "digest": target }))?;
            if !r.ok() {
                return Err(LoadError::Refused {
                    what: "an activation",
                    status: r.status,
                    body: r.body.to_string(),
                });
            }
            count.fetch_add(1, Ordering::Relaxed);
            flip = !flip;
        }
        client.post("/v1/admin/activate", &json!({ "digest": original }))?;
        Ok(())
    }))
}
