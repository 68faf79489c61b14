//! Prometheus metrics: counters, one latency histogram family and the active version, kept in a
//! `prometheus-client` registry and rendered in the Prometheus text exposition format (0.0.4)
//! at `/metrics`.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{prometheus_text, EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The decision endpoints, each with its own counters and histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

impl EncodeLabelValue for Endpoint {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.label())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByEndpoint {
    endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByDecision {
    decision: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByResult {
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ByDigest {
    digest: String,
}

type Latency = Family<ByEndpoint, Histogram, fn() -> Histogram>;

/// Tenants loaded on demand (`--entity-memory`): what is resident, and the loads and evictions
/// that keep it within the budget. Clones share their values (the active version's
/// partitions update them).
#[derive(Debug, Clone)]
pub struct TenantMetrics {
    pub loaded: Gauge,
    pub bytes: Gauge,
    pub loads: Counter,
    pub evictions: Counter,
    pub load_seconds: Histogram,
}

impl Default for TenantMetrics {
    fn default() -> Self {
        Self {
            loaded: Gauge::default(),
            bytes: Gauge::default(),
            loads: Counter::default(),
            evictions: Counter::default(),
            load_seconds: latency_histogram(),
        }
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

pub struct Metrics {
    registry: Registry,
    latency: Latency,
    decisions: Family<ByDecision, Counter>,
    failed: Family<ByEndpoint, Counter>,
    deploys: Family<ByResult, Counter>,
    activations: Counter,
    entity_writes: Counter,
    active: Family<ByDigest, Gauge>,
    pub tenants: TenantMetrics,
    /// One activation at a time, so that the active-version gauge keeps a single series.
    activating: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let latency = Latency::new_with_constructor(latency_histogram);
        let decisions = Family::<ByDecision, Counter>::default();
        let failed = Family::<ByEndpoint, Counter>::default();
        let deploys = Family::<ByResult, Counter>::default();
        // Every series from the start, at zero: a scraper sees a counter before its first event.
        for endpoint in Endpoint::ALL {
            let _ = latency.get_or_create(&ByEndpoint { endpoint });
            let _ = failed.get_or_create(&ByEndpoint { endpoint });
        }
        for decision in ["allow", "deny"] {
            let _ = decisions.get_or_create(&ByDecision { decision });
        }
        for result in ["accepted", "rejected"] {
            let _ = deploys.get_or_create(&ByResult { result });
        }
        let metrics = Self {
            registry: Registry::default(),
            latency,
            decisions,
            failed,
            deploys,
            activations: Counter::default(),
            entity_writes: Counter::default(),
            active: Family::default(),
            tenants: TenantMetrics::default(),
            activating: Mutex::new(()),
        };
        metrics.register()
    }
}

impl Metrics {
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "sesame_decisions",
            "Decisions made, by outcome",
            self.decisions.clone(),
        );
        r.register(
            "sesame_request_failures",
            "Decision API calls answered with an error",
            self.failed.clone(),
        );
        r.register(
            "sesame_request_duration_seconds",
            "Decision API latency inside the server",
            self.latency.clone(),
        );
        r.register("sesame_deploys", "Deploys, by result", self.deploys.clone());
        r.register(
            "sesame_activations",
            "Moves of the active version",
            self.activations.clone(),
        );
        r.register(
            "sesame_entity_writes",
            "Accepted entity writes",
            self.entity_writes.clone(),
        );
        let t = &self.tenants;
        r.register(
            "sesame_tenants_loaded",
            "Tenants whose entities are resident (with --entity-memory)",
            t.loaded.clone(),
        );
        r.register(
            "sesame_tenant_bytes",
            "Memory the resident tenants' entities take, bytes (measured at load)",
            t.bytes.clone(),
        );
        r.register(
            "sesame_tenant_loads",
            "Tenants loaded from the store on first use",
            t.loads.clone(),
        );
        r.register(
            "sesame_tenant_evictions",
            "Tenants unloaded to stay within --entity-memory",
            t.evictions.clone(),
        );
        r.register(
            "sesame_tenant_load_duration_seconds",
            "Time to load one tenant from the store",
            t.load_seconds.clone(),
        );
        r.register(
            "sesame_active_version",
            "The active version (number; digest as a label)",
            self.active.clone(),
        );
        self
    }

    pub fn request(&self, endpoint: Endpoint, elapsed: Duration, ok: bool) {
        let by = ByEndpoint { endpoint };
        self.latency
            .get_or_create(&by)
            .observe(elapsed.as_secs_f64());
        if !ok {
            self.failed.get_or_create(&by).inc();
        }
    }

    pub fn decisions(&self, allow: u64, deny: u64) {
        for (decision, n) in [("allow", allow), ("deny", deny)] {
            self.decisions
                .get_or_create(&ByDecision { decision })
                .inc_by(n);
        }
    }

    pub fn deploy(&self, accepted: bool) {
        let result = if accepted { "accepted" } else { "rejected" };
        self.deploys.get_or_create(&ByResult { result }).inc();
    }

    pub fn activated(&self, number: u64, digest: &str) {
        self.activations.inc();
        let _one_at_a_time = self.activating.lock();
        self.active.clear();
        self.active
            .get_or_create(&ByDigest {
                digest: digest.to_string(),
            })
            .set(i64::try_from(number).unwrap_or(i64::MAX));
    }

    pub fn entity_write(&self) {
        self.entity_writes.inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; an encoding error would leave a truncated page,
        // which a scraper rejects as a whole.
        if let Err(e) = prometheus_text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_series_with_its_labels() {
        let m = Metrics::default();
        m.decisions(3, 1);
        m.request(Endpoint::Batch, Duration::from_micros(300), false);
        m.deploy(true);
        m.activated(1, "sha256:aa");
        m.activated(2, "sha256:bb");
        m.entity_write();
        let text = m.render();
        for line in [
            "# TYPE sesame_decisions_total counter",
            "sesame_decisions_total{decision=\"allow\"} 3",
            "sesame_decisions_total{decision=\"deny\"} 1",
            "sesame_request_failures_total{endpoint=\"batch\"} 1",
            "sesame_request_failures_total{endpoint=\"decide\"} 0",
            "# TYPE sesame_request_duration_seconds histogram",
            "sesame_request_duration_seconds_bucket{endpoint=\"batch\",le=\"0.00025\"} 0",
            "sesame_request_duration_seconds_bucket{endpoint=\"batch\",le=\"0.0005\"} 1",
            "sesame_request_duration_seconds_bucket{endpoint=\"batch\",le=\"+Inf\"} 1",
            "sesame_request_duration_seconds_count{endpoint=\"matrix\"} 0",
            "sesame_deploys_total{result=\"accepted\"} 1",
            "sesame_deploys_total{result=\"rejected\"} 0",
            "sesame_activations_total 2",
            "sesame_entity_writes_total 1",
            "sesame_active_version{digest=\"sha256:bb\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in\n{text}"
            );
        }
        // Only the active version is exposed, not every version ever active.
        assert!(!text.contains("sha256:aa"), "{text}");
    }
}
