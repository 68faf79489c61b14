//! The decision log: a sample of decisions (request with masked context fields, decision,
//! version digest, latency) handed to a background thread that writes them to the store in
//! batches, so the decision path never waits for storage. While the store cannot take them (a
//! replica that lost its database), batches are spooled to a local file and written, in order,
//! once the store is back.
//!
//! Bounded everywhere, since anyone who may ask for a decision writes to it: a record's
//! request is cut to `max_record_bytes` (the context replaced by a marker), the queue holds at
//! most `QUEUE_BYTES`, and the same thread prunes the store to the retention age and size, once
//! a minute and whenever it has written an eighth of the size cap since the last pruning.

use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::DecisionLogConfig;
use crate::store::{now_rfc3339, rfc3339, DecisionRecord, PolicyStore};

const QUEUE: usize = 65_536;
/// Most bytes of records waiting for the writer; past it records are dropped (decisions are
/// not).
const QUEUE_BYTES: usize = 64 << 20;
const BATCH: usize = 512;
/// How often the store is pruned when little is written.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A record and its size, as counted against the queue's byte budget.
struct Queued {
    record: DecisionRecord,
    bytes: usize,
}

pub struct DecisionLog {
    sender: Option<SyncSender<Queued>>,
    /// Log one decision in `every` (deterministic sampling: no RNG on the hot path).
    every: u64,
    seen: AtomicU64,
    dropped: AtomicU64,
    masked: Vec<String>,
    max_record_bytes: usize,
    queued_bytes: Arc<AtomicUsize>,
}

/// Counts what serde_json writes, without keeping it.
#[derive(Default)]
struct ByteCount(usize);

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Bytes of `value` as JSON.
fn json_len(value: &Value) -> usize {
    let mut count = ByteCount::default();
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The marker that stands for what was cut out of a logged request.
fn truncated(bytes: usize) -> Value {
    serde_json::json!({"_truncated": true, "bytes": bytes})
}

/// A decision request as it can be logged, from its JSON text. A text longer than
/// `max_record_bytes` is not parsed whole (a 1 MiB context would be ten times that in memory):
/// only principal, action and resource are kept, the context is the truncation marker and the
/// per-call entities are counted.
pub fn loggable_request(input: &str, max_record_bytes: usize) -> Option<Value> {
    if input.len() <= max_record_bytes {
        return serde_json::from_str(input).ok();
    }
    #[derive(serde::Deserialize)]
    struct Head {
        principal: Value,
        action: Value,
        resource: Value,
        #[serde(default)]
        entities: Option<Vec<serde::de::IgnoredAny>>,
    }
    let head: Head = serde_json::from_str(input).ok()?;
    let mut request = serde_json::json!({
        "principal": head.principal,
        "action": head.action,
        "resource": head.resource,
        "context": truncated(input.len()),
    });
    if let (Some(entities), Some(map)) = (head.entities, request.as_object_mut()) {
        map.insert(
            "entities".into(),
            Value::Array(vec![Value::Null; entities.len()]),
        );
    }
    Some(request)
}

impl DecisionLog {
    /// `spool`: the local file that holds batches the store could not take.
    pub fn start(config: &DecisionLogConfig, store: Arc<dyn PolicyStore>, spool: PathBuf) -> Self {
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let every = if config.sample <= 0.0 {
            0
        } else {
            (1.0 / config.sample.min(1.0)).round().max(1.0) as u64
        };
        let sender = if every == 0 {
            None
        } else {
            let (tx, rx) = sync_channel(QUEUE);
            let retention = Retention {
                age: config.retention,
                max_bytes: config.max_bytes,
            };
            let writer = Writer::new(store, spool, retention, queued_bytes.clone());
            // Without the writer thread the log is off; decisions are unaffected.
            std::thread::Builder::new()
                .name("sesame-decision-log".into())
                .spawn(move || write_loop(rx, writer))
                .ok()
                .map(|_| tx)
        };
        Self {
            sender,
            every,
            seen: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            masked: config.masked_fields.clone(),
            max_record_bytes: config.max_record_bytes,
            queued_bytes,
        }
    }

    /// Largest logged request, bytes (see [`loggable_request`]).
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    /// Whether the next decision should be logged (cheap; call before building a record).
    pub fn sample(&self) -> bool {
        self.sender.is_some() && self.seen.fetch_add(1, Ordering::Relaxed) % self.every == 0
    }

    pub fn record(&self, mut request: Value, answer: &Value, latency: Duration) {
        let Some(sender) = &self.sender else { return };
        if let Some(context) = request.get_mut("context") {
            mask(context, &self.masked);
        }
        if let Some(object) = request.as_object_mut() {
            // Per-call entities can be large and hold personal data: log how many, not what.
            if let Some(n) = object
                .remove("entities")
                .and_then(|e| e.as_array().map(Vec::len))
            {
                object.insert("entities_count".into(), n.into());
            }
        }
        // A request over the cap keeps its principal, action and resource, its context is
        // replaced by a marker; one still over it (ids of megabytes) is a marker itself.
        let mut bytes = json_len(&request);
        if bytes > self.max_record_bytes {
            let before = bytes;
            if let Some(context) = request.get_mut("context") {
                if context.get("_truncated").is_none() {
                    *context = truncated(before);
                }
            }
            bytes = json_len(&request);
            if bytes > self.max_record_bytes {
                request = truncated(before);
                bytes = json_len(&request);
            }
        }
        // What the writer holds for this record: the request and a few hundred bytes more.
        let bytes = bytes + 256;
        if self.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let record = DecisionRecord {
            at: now_rfc3339(),
            request,
            decision: answer["decision"].as_str().unwrap_or("error").to_string(),
            determining_policies: answer["determining_policies"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            digest: answer["bundle_digest"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            latency_us: latency.as_micros() as u64,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            sender.try_send(Queued { record, bytes })
        {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn mask(value: &mut Value, fields: &[String]) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if fields.iter().any(|f| f == key) {
                    *v = Value::String("***".into());
                } else {
                    mask(v, fields);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask(v, fields)),
        _ => {}
    }
}

/// Most spooled bytes kept while the store is away (older records are kept, newer dropped).
const SPOOL_LIMIT: u64 = 256 << 20;

/// How much of the log the store keeps.
#[derive(Debug, Clone, Copy)]
struct Retention {
    age: Duration,
    max_bytes: u64,
}

struct Writer {
    store: Arc<dyn PolicyStore>,
    spool: PathBuf,
    /// After a failed attempt, the spool is not tried again before this instant: while the
    /// store is away, the spool is read at most once a second, not once per batch.
    retry_at: Cell<Option<Instant>>,
    retention: Retention,
    /// When the store was last pruned (`None`: not yet), and bytes written since.
    pruned_at: Cell<Option<Instant>>,
    written: Cell<u64>,
    queued_bytes: Arc<AtomicUsize>,
}

/// One JSON line per record.
fn write_lines(file: &mut impl Write, records: &[DecisionRecord]) -> std::io::Result<()> {
    for r in records {
        if let Ok(line) = serde_json::to_string(r) {
            writeln!(file, "{line}")?;
        }
    }
    file.flush()
}

impl Writer {
    fn new(
        store: Arc<dyn PolicyStore>,
        spool: PathBuf,
        retention: Retention,
        queued_bytes: Arc<AtomicUsize>,
    ) -> Self {
        Self {
            store,
            spool,
            retry_at: Cell::new(None),
            retention,
            pruned_at: Cell::new(None),
            written: Cell::new(0),
            queued_bytes,
        }
    }

    /// Prunes the store to the retention age and size when a minute has passed since the last
    /// time, or an eighth of the size cap was written since: the log never grows much past its
    /// cap between two prunings, however fast it is written.
    fn prune_if_due(&self) {
        let due = self
            .pruned_at
            .get()
            .is_none_or(|t| t.elapsed() >= PRUNE_EVERY)
            || self.written.get() >= self.retention.max_bytes / 8;
        if !due {
            return;
        }
        let cut = std::time::SystemTime::now()
            .checked_sub(self.retention.age)
            .unwrap_or(std::time::UNIX_EPOCH);
        match self
            .store
            .prune_decisions(&rfc3339(cut), self.retention.max_bytes)
        {
            Ok(n) => {
                if n > 0 {
                    tracing::info!("decision log: {n} records past retention deleted");
                }
                self.pruned_at.set(Some(Instant::now()));
                self.written.set(0);
            }
            // Tried again at the next batch or tick; the spool path handles a store away.
            Err(e) => tracing::warn!("decision log: pruning failed: {e}"),
        }
    }

    fn spooled(&self) -> bool {
        std::fs::metadata(&self.spool).is_ok_and(|m| m.len() > 0)
    }

    fn back_off(&self) {
        self.retry_at
            .set(Some(Instant::now() + Duration::from_secs(1)));
    }

    /// Writes the spool (oldest first) to the store, then empties it; if the store is still
    /// away, keeps what was not written and backs off.
    fn drain(&self) {
        if self.retry_at.get().is_some_and(|t| Instant::now() < t) {
            return;
        }
        let Ok(text) = std::fs::read_to_string(&self.spool) else {
            return;
        };
        let records: Vec<DecisionRecord> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        for (i, chunk) in records.chunks(BATCH).enumerate() {
            if self.store.append_decisions(chunk).is_err() {
                // The chunks before are written: keep only the rest, so none is written twice
                // and none lost (nothing written: the spool stays as it is).
                if i > 0 {
                    let rewritten = std::fs::File::create(&self.spool)
                        .and_then(|mut f| write_lines(&mut f, &records[i * BATCH..]));
                    if let Err(e) = rewritten {
                        tracing::warn!("decision log: cannot rewrite the spool: {e}");
                    }
                }
                self.back_off();
                return;
            }
        }
        let _ = std::fs::remove_file(&self.spool);
        self.retry_at.set(None);
        tracing::info!("decision log: {} spooled records written", records.len());
    }

    fn spool(&self, batch: &[DecisionRecord]) {
        let size = std::fs::metadata(&self.spool).map_or(0, |m| m.len());
        if size > SPOOL_LIMIT {
            tracing::warn!("decision log: spool full, {} records dropped", batch.len());
            return;
        }
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spool)
            .and_then(|mut f| write_lines(&mut f, batch));
        if let Err(e) = appended {
            tracing::warn!("decision log: {} records lost, spool: {e}", batch.len());
        }
    }

    /// Writes a batch; behind spooled records it joins the spool (keeping the order), and the
    /// spool is drained when the back-off allows.
    fn write(&self, batch: &[DecisionRecord]) {
        let bytes: usize = batch
            .iter()
            .map(|r| serde_json::to_string(r).map_or(0, |t| t.len()))
            .sum();
        self.written.set(self.written.get() + bytes as u64);
        if self.spooled() {
            self.spool(batch);
            self.drain();
            return;
        }
        if let Err(e) = self.store.append_decisions(batch) {
            tracing::warn!(
                "decision log: store unavailable ({e}); spooling {} records",
                batch.len()
            );
            self.spool(batch);
            self.back_off();
        }
    }
}

fn write_loop(rx: Receiver<Queued>, writer: Writer) {
    loop {
        // Wake up now and then to write a spool and prune even when no decision comes.
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                if writer.spooled() {
                    writer.drain();
                }
                writer.prune_if_due();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut queued = first.bytes;
        let mut batch = vec![first.record];
        while batch.len() < BATCH {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(r) => {
                    queued += r.bytes;
                    batch.push(r.record);
                }
                Err(_) => break,
            }
        }
        writer.queued_bytes.fetch_sub(queued, Ordering::Relaxed);
        writer.write(&batch);
        writer.prune_if_due();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_request_is_logged_with_its_context_cut_and_marked() {
        let context = serde_json::json!({"blob": "x".repeat(10_000)});
        let input = serde_json::json!({
            "principal": {"type": "User", "id": "carol"},
            "action": {"type": "Action", "id": "view"},
            "resource": {"type": "Document", "id": "d"},
            "context": context,
            "entities": [{"uid": {"type": "Document", "id": "d"}, "attrs": {}, "parents": []}],
        })
        .to_string();
        let logged = loggable_request(&input, 1_000).unwrap_or_default();
        assert_eq!(logged["principal"]["id"], "carol");
        assert_eq!(logged["context"]["_truncated"], true);
        assert_eq!(logged["context"]["bytes"], input.len());
        assert_eq!(logged["entities"].as_array().map(Vec::len), Some(1));
        // A small one is kept whole.
        let small = r#"{"principal": {"type": "User", "id": "c"}, "context": {"a": 1}}"#;
        assert_eq!(
            loggable_request(small, 1_000).map(|v| v["context"]["a"].clone()),
            Some(serde_json::json!(1))
        );
    }

    #[test]
    fn masked_fields_are_replaced_at_any_depth() {
        let mut v = serde_json::json!({"iban": "FR76", "nested": {"iban": "x", "ok": 1}, "list": [{"iban": 2}]});
        mask(&mut v, &["iban".to_string()]);
        assert_eq!(
            v,
            serde_json::json!({"iban": "***", "nested": {"iban": "***", "ok": 1}, "list": [{"iban": "***"}]})
        );
    }
}
