//! Prometheus metrics, kept as atomics (no registry crate: a handful of counters and one
//! histogram family) and rendered in the text exposition format at `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The decision endpoints, each with its own counters and histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Decide,
    Batch,
    Matrix,
}

impl Endpoint {
    const ALL: [Endpoint; 3] = [Endpoint::Decide, Endpoint::Batch, Endpoint::Matrix];

    fn label(self) -> &'static str {
        match self {
            Self::Decide => "decide",
            Self::Batch => "batch",
            Self::Matrix => "matrix",
        }
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct Metrics {
    latency: [Histogram; 3],
    allow: AtomicU64,
    deny: AtomicU64,
    failed: [AtomicU64; 3],
    deploys_ok: AtomicU64,
    deploys_rejected: AtomicU64,
    activations: AtomicU64,
    entity_writes: AtomicU64,
    active: RwLock<Option<(u64, String)>>,
}

fn index(endpoint: Endpoint) -> usize {
    Endpoint::ALL
        .iter()
        .position(|e| *e == endpoint)
        .unwrap_or(0)
}

impl Metrics {
    pub fn request(&self, endpoint: Endpoint, elapsed: Duration, ok: bool) {
        self.latency[index(endpoint)].observe(elapsed);
        if !ok {
            self.failed[index(endpoint)].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn decisions(&self, allow: u64, deny: u64) {
        self.allow.fetch_add(allow, Ordering::Relaxed);
        self.deny.fetch_add(deny, Ordering::Relaxed);
    }

    pub fn deploy(&self, accepted: bool) {
        let counter = if accepted {
            &self.deploys_ok
        } else {
            &self.deploys_rejected
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn activated(&self, number: u64, digest: &str) {
        self.activations.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut active) = self.active.write() {
            *active = Some((number, digest.to_string()));
        }
    }

    pub fn entity_write(&self) {
        self.entity_writes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str("# HELP sesame_decisions_total Decisions made, by outcome.\n# TYPE sesame_decisions_total counter\n");
        let _ = writeln!(
            out,
            "sesame_decisions_total{{decision=\"allow\"}} {}",
            get(&self.allow)
        );
        let _ = writeln!(
            out,
            "sesame_decisions_total{{decision=\"deny\"}} {}",
            get(&self.deny)
        );
        out.push_str("# HELP sesame_request_failures_total Decision API calls answered with an error.\n# TYPE sesame_request_failures_total counter\n");
        for e in Endpoint::ALL {
            let _ = writeln!(
                out,
                "sesame_request_failures_total{{endpoint=\"{}\"}} {}",
                e.label(),
                get(&self.failed[index(e)])
            );
        }
        out.push_str("# HELP sesame_request_duration_seconds Decision API latency inside the server.\n# TYPE sesame_request_duration_seconds histogram\n");
        for e in Endpoint::ALL {
            let h = &self.latency[index(e)];
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += get(&h.buckets[i]);
                let _ = writeln!(
                    out,
                    "sesame_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"{bound}\"}} {cumulative}",
                    e.label()
                );
            }
            let count = get(&h.count);
            let _ = writeln!(
                out,
                "sesame_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"+Inf\"}} {count}",
                e.label()
            );
            let _ = writeln!(
                out,
                "sesame_request_duration_seconds_sum{{endpoint=\"{}\"}} {}",
                e.label(),
                get(&h.sum_us) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "sesame_request_duration_seconds_count{{endpoint=\"{}\"}} {count}",
                e.label()
            );
        }
        out.push_str("# HELP sesame_deploys_total Deploys, by result.\n# TYPE sesame_deploys_total counter\n");
        let _ = writeln!(
            out,
            "sesame_deploys_total{{result=\"accepted\"}} {}",
            get(&self.deploys_ok)
        );
        let _ = writeln!(
            out,
            "sesame_deploys_total{{result=\"rejected\"}} {}",
            get(&self.deploys_rejected)
        );
        out.push_str("# HELP sesame_activations_total Moves of the active version.\n# TYPE sesame_activations_total counter\n");
        let _ = writeln!(out, "sesame_activations_total {}", get(&self.activations));
        out.push_str("# HELP sesame_entity_writes_total Accepted entity writes.\n# TYPE sesame_entity_writes_total counter\n");
        let _ = writeln!(
            out,
            "sesame_entity_writes_total {}",
            get(&self.entity_writes)
        );
        out.push_str("# HELP sesame_active_version The active version (number; digest as a label).\n# TYPE sesame_active_version gauge\n");
        if let Some((number, digest)) = self.active.read().ok().and_then(|a| a.clone()) {
            let _ = writeln!(out, "sesame_active_version{{digest=\"{digest}\"}} {number}");
        }
        out
    }
}
