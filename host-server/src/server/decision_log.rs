//! The decision log: a sample of decisions (request with masked context fields, decision,
//! version digest, latency) handed to a background thread that writes them to the store in
//! batches, so the decision path never waits for storage. While the store cannot take them (a
//! replica that lost its database), batches are spooled to a local file and written, in order,
//! once the store is back.

use std::cell::Cell;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::DecisionLogConfig;
use crate::store::{now_rfc3339, DecisionRecord, PolicyStore};

const QUEUE: usize = 65_536;
const BATCH: usize = 512;

pub struct DecisionLog {
    sender: Option<SyncSender<DecisionRecord>>,
    /// Log one decision in `every` (deterministic sampling: no RNG on the hot path).
    every: u64,
    seen: AtomicU64,
    dropped: AtomicU64,
    masked: Vec<String>,
}

impl DecisionLog {
    /// `spool`: the local file that holds batches the store could not take.
    pub fn start(config: &DecisionLogConfig, store: Arc<dyn PolicyStore>, spool: PathBuf) -> Self {
        let every = if config.sample <= 0.0 {
            0
        } else {
            (1.0 / config.sample.min(1.0)).round().max(1.0) as u64
        };
        let sender = if every == 0 {
            None
        } else {
            let (tx, rx) = sync_channel(QUEUE);
            // Without the writer thread the log is off; decisions are unaffected.
            std::thread::Builder::new()
                .name("sesame-decision-log".into())
                .spawn(move || write_loop(rx, Writer::new(store, spool)))
                .ok()
                .map(|_| tx)
        };
        Self {
            sender,
            every,
            seen: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            masked: config.masked_fields.clone(),
        }
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
        if let Err(TrySendError::Full(_)) = sender.try_send(record) {
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

struct Writer {
    store: Arc<dyn PolicyStore>,
    spool: PathBuf,
    /// After a failed attempt, the spool is not tried again before this instant: while the
    /// store is away, the spool is read at most once a second, not once per batch.
    retry_at: Cell<Option<Instant>>,
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
    fn new(store: Arc<dyn PolicyStore>, spool: PathBuf) -> Self {
        Self {
            store,
            spool,
            retry_at: Cell::new(None),
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

fn write_loop(rx: Receiver<DecisionRecord>, writer: Writer) {
    loop {
        // Wake up now and then to write a spool even when no decision comes.
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                if writer.spooled() {
                    writer.drain();
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        writer.write(&batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
