//! Whole loads of entity records: parsed a chunk at a time (natively on two threads) and
//! handed to the store as they come, so a load never holds all its records as Cedar entities
//! (about ten times the store's form of them); from JSON text, never all as JSON values either.
//! Both sources go through one pipeline ([`load_chunks`]).

use serde_json::value::RawValue;
use serde_json::Value;

use crate::bundle::Bundle;
use crate::engine::{parse_one, plain_parser};
use crate::error::EngineError;
use crate::store::EntityStore;

type Entity = cedar_policy_core::ast::Entity;
type Parsed = Result<Vec<Entity>, EngineError>;

/// Below this many records a load is parsed on the calling thread alone (always, in
/// WebAssembly).
const PARALLEL_PARSE_MIN: usize = 20_000;

/// Below this many bytes of text a load is read on the calling thread alone (about 5,000
/// records of a few attributes: three threads cost more than they save below that).
const PARALLEL_TEXT_MIN: usize = 1 << 20;

/// Records parsed before they are handed to the store: a whole load never holds every record
/// as a Cedar entity at once (about ten times the store's form of it).
const LOAD_CHUNK: usize = 8_192;

pub(crate) fn missing_uid(index: usize) -> EngineError {
    EngineError::EntityInvalid(format!(
        "entity record #{index} needs a `uid` of the form {{\"type\": ..., \"id\": ...}}"
    ))
}

/// The bundle's static entities plus data records already parsed as JSON (checked by the
/// caller: each has a uid and none is an action entity).
pub(crate) fn build_store<'d>(
    bundle: &Bundle,
    data: &'d [Value],
) -> Result<EntityStore, EngineError> {
    let produce = |each: &mut dyn FnMut(usize, &'d [Value]) -> bool| {
        for (k, chunk) in data.chunks(LOAD_CHUNK).enumerate() {
            if !each(k * LOAD_CHUNK, chunk) {
                break;
            }
        }
        Ok(())
    };
    let parse = |_: usize, chunk: &&'d [Value]| -> Parsed {
        let mut plain = plain_parser(bundle);
        chunk
            .iter()
            .map(|record| parse_one(bundle, plain.as_mut(), record))
            .collect()
    };
    load_into_store(bundle, data.len() >= PARALLEL_PARSE_MIN, produce, parse)
}

/// A whole load from `text`, a JSON array of entity records, read as a stream: each chunk of
/// records is parsed and stored while the next is read. Each record is checked as
/// [`crate::Engine::replace_entities`] checks it (a uid, not an action entity); the first
/// error in record order is the one reported, and malformed JSON with its line and column.
pub(crate) fn build_store_from_text<'t>(
    bundle: &Bundle,
    text: &'t str,
) -> Result<EntityStore, EngineError> {
    let produce =
        |each: &mut dyn FnMut(usize, Vec<&'t RawValue>) -> bool| read_chunks(text, &mut *each);
    let parse = |first: usize, chunk: &Vec<&'t RawValue>| parse_checked(bundle, first, chunk);
    load_into_store(bundle, text.len() >= PARALLEL_TEXT_MIN, produce, parse)
}

/// The bundle's static entities (which include the schema's actions) plus the data records
/// `produce` hands out, parsed by `parse` (see [`load_chunks`]; a record with the uid of a
/// static entity replaces it), their ancestors closed.
fn load_into_store<C: Send>(
    bundle: &Bundle,
    parallel: bool,
    produce: impl FnOnce(&mut dyn FnMut(usize, C) -> bool) -> Result<(), EngineError>,
    parse: impl Fn(usize, &C) -> Parsed + Sync,
) -> Result<EntityStore, EngineError> {
    let mut store = EntityStore::default();
    for entity in bundle.entities().iter() {
        store.add(entity.as_ref(), false)?;
    }
    load_chunks(parallel, produce, parse, |chunk| {
        chunk.iter().try_for_each(|entity| store.add(entity, true))
    })?;
    store.close()
}

/// The records of one chunk (`first`: the index of its first record in the load) as the
/// reader found them, parsed as JSON (here, on the parser's thread), checked and parsed.
fn parse_checked(bundle: &Bundle, first: usize, records: &[&RawValue]) -> Parsed {
    let mut plain = plain_parser(bundle);
    records
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let record: Value = serde_json::from_str(raw.get()).map_err(|e| {
                EngineError::MalformedJson(format!("entity record #{}: {e}", first + i))
            })?;
            let uid =
                crate::entity_json::uid_of_record(&record).ok_or_else(|| missing_uid(first + i))?;
            crate::engine::reject_action_entity(bundle, &uid)?;
            parse_one(bundle, plain.as_mut(), &record)
        })
        .collect()
}

/// Reads the JSON array `text` a chunk of records at a time, handing `each` the index of a
/// chunk's first record and its records as text (checked as JSON, not parsed: the parsers do
/// that, two at a time); stops reading when `each` says so (false).
fn read_chunks<'t>(
    text: &'t str,
    mut each: impl FnMut(usize, Vec<&'t RawValue>) -> bool,
) -> Result<(), EngineError> {
    struct Chunks<'e, F>(&'e mut F);
    impl<'t, F: FnMut(usize, Vec<&'t RawValue>) -> bool> serde::de::Visitor<'t> for Chunks<'_, F> {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of entity records")
        }
        fn visit_seq<A: serde::de::SeqAccess<'t>>(self, mut seq: A) -> Result<bool, A::Error> {
            let (mut first, mut chunk) = (0, Vec::with_capacity(LOAD_CHUNK));
            loop {
                let record = match seq.next_element::<&'t RawValue>() {
                    Ok(Some(record)) => record,
                    Ok(None) => break,
                    Err(e) => {
                        // The records before the bad JSON are checked first: an error among
                        // them comes first in record order, wherever the chunk ended.
                        if !chunk.is_empty() {
                            (self.0)(first, chunk);
                        }
                        return Err(e);
                    }
                };
                chunk.push(record);
                if chunk.len() == LOAD_CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(LOAD_CHUNK));
                    if !(self.0)(first, full) {
                        return Ok(false);
                    }
                    first += LOAD_CHUNK;
                }
            }
            Ok(chunk.is_empty() || (self.0)(first, chunk))
        }
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    let completed = serde::Deserializer::deserialize_seq(&mut reader, Chunks(&mut each));
    match completed {
        // Stopped by an error downstream: that error is the one to report.
        Ok(false) => Ok(()),
        Ok(true) => reader
            .end()
            .map_err(|e| EngineError::MalformedJson(e.to_string())),
        Err(e) => Err(EngineError::MalformedJson(e.to_string())),
    }
}

/// The load pipeline. `produce` hands out chunks of records in order, each with the index of
/// its first record, and stops when told to (false); `parse` turns a chunk into entities;
/// `sink` stores them, in record order. The first error in record order is the one reported
/// (an error in records already read before one further on in the source).
///
/// Natively, when `parallel` (WebAssembly has no threads: ignored there): the calling thread produces and hands chunks to two parser
/// threads in turn; a storing thread takes their results in the same turn and gives them to
/// `sink`. Every channel holds one chunk: a slow stage makes the others wait instead of piling
/// records up. Otherwise everything runs on the calling thread.
fn load_chunks<C: Send>(
    parallel: bool,
    produce: impl FnOnce(&mut dyn FnMut(usize, C) -> bool) -> Result<(), EngineError>,
    parse: impl Fn(usize, &C) -> Parsed + Sync,
    mut sink: impl FnMut(Vec<Entity>) -> Result<(), EngineError> + Send,
) -> Result<(), EngineError> {
    #[cfg(not(target_arch = "wasm32"))]
    if parallel {
        return load_parallel(produce, parse, sink);
    }
    #[cfg(target_arch = "wasm32")]
    let _ = parallel;
    let mut stored = Ok(());
    let read = produce(&mut |first, chunk| {
        stored = parse(first, &chunk).and_then(&mut sink);
        stored.is_ok()
    });
    stored.and(read)
}

/// A scoped thread with the stack Cedar's code needs on untrusted input (`THREAD_STACK`: the
/// default 2 MiB is not enough for the deepest records Cedar accepts in a dev build).
#[cfg(not(target_arch = "wasm32"))]
fn worker<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    run: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>, EngineError> {
    std::thread::Builder::new()
        .stack_size(crate::nesting::THREAD_STACK)
        .spawn_scoped(scope, run)
        .map_err(|e| {
            EngineError::Unsupported(format!("cannot start an entity loading thread: {e}"))
        })
}

/// [`load_chunks`] on threads (see there).
#[cfg(not(target_arch = "wasm32"))]
fn load_parallel<C: Send>(
    produce: impl FnOnce(&mut dyn FnMut(usize, C) -> bool) -> Result<(), EngineError>,
    parse: impl Fn(usize, &C) -> Parsed + Sync,
    mut sink: impl FnMut(Vec<Entity>) -> Result<(), EngineError> + Send,
) -> Result<(), EngineError> {
    use std::sync::mpsc::sync_channel;
    let parse = &parse;
    std::thread::scope(|scope| {
        let (mut to_parsers, mut from_parsers, mut parsers) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..2 {
            let (chunks, incoming) = sync_channel::<(usize, C)>(1);
            let (results, parsed) = sync_channel::<Parsed>(1);
            parsers.push(worker(scope, move || {
                for (first, chunk) in incoming {
                    let result = parse(first, &chunk);
                    drop(chunk);
                    // The storer is gone when it stopped at an error: stop too.
                    if results.send(result).is_err() {
                        break;
                    }
                }
            }));
            to_parsers.push(chunks);
            from_parsers.push(parsed);
        }
        let storer = worker(scope, move || -> Result<(), EngineError> {
            // Chunk k went to parser k % 2; the first parser with nothing more to give marks
            // the end (the producer stopped, so chunk k does not exist).
            for k in 0.. {
                match from_parsers[k % 2].recv() {
                    Ok(parsed) => sink(parsed?)?,
                    Err(_) => break,
                }
            }
            Ok(())
        });
        let mut turn = 0;
        let read = produce(&mut |first, chunk| {
            let sent = to_parsers[turn % 2].send((first, chunk)).is_ok();
            turn += 1;
            sent
        });
        drop(to_parsers);
        let stored = storer.and_then(|storer| {
            storer.join().unwrap_or_else(|_| {
                Err(EngineError::Unsupported(
                    "the entity store thread panicked".into(),
                ))
            })
        });
        // A parser that panicked (or never started) ends its turn early, which would look like
        // the end of the records: refused instead.
        let parsed_all = parsers
            .into_iter()
            .all(|p| p.is_ok_and(|p| p.join().is_ok()));
        if !parsed_all {
            return Err(EngineError::Unsupported(
                "an entity parser thread stopped".into(),
            ));
        }
        // An error in the records read comes before one further on in the source.
        stored.and(read)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::{json, Value};

    use crate::error::ErrorCode;
    use crate::{Bundle, Engine};

    const SCHEMA: &str = r#"
        entity Group in [Group];
        entity Doc in [Group] = { owner: Group, n: Long };
        action read appliesTo { principal: Group, resource: Doc };
    "#;

    fn bundle() -> Bundle {
        Bundle::load([
            ("schema.cedarschema", SCHEMA),
            (
                "policies.cedar",
                "permit(principal, action, resource) when { resource in principal };",
            ),
        ])
        .unwrap()
    }

    /// Enough records for several chunks, each on one of the two parser threads in turn.
    fn records(n: usize) -> Vec<Value> {
        let mut out =
            vec![json!({"uid": {"type": "Group", "id": "g0"}, "attrs": {}, "parents": []})];
        for i in 1..n {
            out.push(if i % 3 == 0 {
                json!({"uid": {"type": "Group", "id": format!("g{i}")}, "attrs": {},
                       "parents": [{"type": "Group", "id": format!("g{}", i / 300 * 3)}]})
            } else {
                json!({"uid": {"type": "Doc", "id": format!("d{i}")},
                       "attrs": {"owner": {"__entity": {"type": "Group", "id": "g0"}}, "n": i},
                       "parents": [{"type": "Group", "id": format!("g{}", i - i % 3)}]})
            });
        }
        out
    }

    fn sorted(mut records: Vec<Value>) -> Vec<String> {
        let mut out: Vec<String> = records.drain(..).map(|r| r.to_string()).collect();
        out.sort();
        out
    }

    #[test]
    fn a_load_read_as_a_stream_is_the_load_of_the_parsed_records() {
        let records = records(3 * super::LOAD_CHUNK + 17);
        let text = Value::Array(records.clone()).to_string();
        let streamed = Engine::with_entities_json(bundle(), &text).unwrap();
        let parsed = Engine::with_entities(bundle(), records).unwrap();
        assert_eq!(streamed.entity_count(), parsed.entity_count());
        assert_eq!(
            sorted(streamed.data_records().unwrap()),
            sorted(parsed.data_records().unwrap())
        );
        // Ancestors closed across chunks: the deepest group chain reaches g0.
        let last = format!("d{}", 3 * super::LOAD_CHUNK + 16);
        let request: crate::wire::DecisionRequest = serde_json::from_value(json!({
            "principal": {"type": "Group", "id": "g0"}, "action": {"type": "Action", "id": "read"},
            "resource": {"type": "Doc", "id": last}}))
        .unwrap();
        assert_eq!(
            streamed.decide(&request).unwrap().decision,
            parsed.decide(&request).unwrap().decision
        );
        assert_eq!(
            serde_json::to_value(streamed.decide(&request).unwrap().decision).unwrap(),
            "allow"
        );
    }

    #[test]
    fn a_bad_load_read_as_a_stream_reports_its_first_error_and_changes_nothing() {
        let mut engine = Engine::with_entities_json(bundle(), "[]").unwrap();
        let before = engine.entity_count();
        let mut records = records(2 * super::LOAD_CHUNK + 5);
        let first_bad = super::LOAD_CHUNK + 3;
        records[first_bad]["attrs"]["n"] = json!("not a number");
        records[2 * super::LOAD_CHUNK + 1] = json!({"attrs": {}});
        let err = engine
            .replace_entities_json(&Value::Array(records).to_string())
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::EntityInvalid);
        assert!(err.to_string().contains(&format!("d{first_bad}")), "{err}");

        // A bad record before malformed JSON further on is the error, wherever chunks end.
        let mut early = super::tests::records(2 * super::LOAD_CHUNK + 100);
        early[5]["attrs"]["n"] = json!("not a number");
        let text = Value::Array(early).to_string();
        let text = format!("{}, oops]", &text[..text.len() - 1]);
        assert!(
            text.len() >= super::PARALLEL_TEXT_MIN,
            "the parallel path is tested"
        );
        let err = engine.replace_entities_json(&text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::EntityInvalid, "{err}");
        assert!(err.to_string().contains("d5"), "{err}");

        let err = engine
            .replace_entities_json(
                "[{\"uid\": {\"type\": \"Group\", \"id\": \"x\"}, \"attrs\": {}, \"parents\": []},\n oops]",
            )
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::MalformedJson);
        assert!(err.to_string().contains("line 2"), "{err}");
        for not_an_array in ["{}", "", "[] []"] {
            let err = engine.replace_entities_json(not_an_array).unwrap_err();
            assert_eq!(
                err.code(),
                ErrorCode::MalformedJson,
                "{not_an_array}: {err}"
            );
        }
        let action = r#"[{"uid": {"type": "Action", "id": "read"}, "attrs": {}, "parents": []}]"#;
        let err = engine.replace_entities_json(action).unwrap_err();
        assert_eq!(err.code(), ErrorCode::EntityInvalid, "{err}");
        assert_eq!(engine.entity_count(), before);
    }
}
