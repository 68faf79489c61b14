//! `sesame bench DIR`: policy-core against raw cedar-policy on a generated firm (see
//! `sesame_tools::bench`). Prints ratios; `--format json` for machines. `sesame bench-load`:
//! one engine loading an entity file alone in the process (`sesame_tools::load_bench`).

use std::path::Path;

use super::{json, load_or_report, CliError, Format, Status};
use sesame_tools::bench;
use sesame_tools::firm_gen::FirmSize;

pub fn run(
    guest: Option<&Path>,
    dir: &Path,
    size: FirmSize,
    requests: usize,
    rounds: usize,
    format: Format,
) -> Result<Status, CliError> {
    let bundle = match load_or_report(dir, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let report = match bench::run(bundle, size, requests, rounds, guest) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench failed: {e}");
            return Ok(Status::Problems);
        }
    };
    match format {
        Format::Json => println!("{}", json(&report)),
        Format::Text => {
            println!(
                "generated firm: {} entities ({} users, {} clients, {} documents)",
                report.entities, size.users, size.clients, size.documents
            );
            println!(
                "  load: policy-core {:.0} ms, cedar-policy Entities {:.0} ms",
                report.load_ms, report.cedar_load_ms
            );
            println!(
                "{} requests × {} rounds (median per decision; {} allowed)",
                report.requests, report.rounds, report.allow_count
            );
            println!(
                "  cedar-policy, prebuilt requests   {:>9.0} ns",
                report.cedar_prebuilt_ns
            );
            println!(
                "  cedar-policy, requests from JSON  {:>9.0} ns",
                report.cedar_from_json_ns
            );
            println!(
                "  policy-core Engine::decide        {:>9.0} ns",
                report.engine_ns
            );
            println!(
                "  policy-core decide_batch          {:>9.0} ns",
                report.engine_batch_ns
            );
            println!(
                "  ratio engine / cedar (from JSON)  {:>9.3}",
                report.ratio_engine_vs_cedar_from_json
            );
            println!(
                "  ratio engine / cedar (prebuilt)   {:>9.3}",
                report.ratio_engine_vs_cedar_prebuilt
            );
            println!(
                "  policy-core matrix, per cell      {:>9.0} ns  (ratio {:.3})",
                report.engine_matrix_cell_ns, report.ratio_matrix_cell_vs_cedar_from_json
            );
            println!(
                "entity deltas (median): insert {:.1} µs, update {:.1} µs, remove {:.1} µs",
                report.delta_insert_document_us,
                report.delta_update_document_us,
                report.delta_remove_document_us
            );
            println!(
                "  the same insert in cedar_policy::Entities: {:.0} µs",
                report.cedar_delta_insert_us
            );
            let q = &report.query;
            println!(
                "list query: {} internal users' documents among {} (mean {:.0} each): {:.2} ms per list, \
                 {:.0} ms deciding every document one by one (ratio {:.4}); plan with SQL {:.0} us",
                q.users, q.documents, q.listed_mean, q.list_ms, q.one_by_one_ms, q.ratio_list_vs_one_by_one, q.plan_us
            );
            if let Some(g) = &report.guest {
                println!("wasmtime guest (JSON in/out, same requests; native = json_api::call):");
                println!(
                    "  native decide {:>9.0} ns   guest decide {:>9.0} ns   ratio {:.3}",
                    g.native_decide_json_ns, g.guest_decide_ns, g.ratio_guest_vs_native_single
                );
                println!("  native batch  {:>9.0} ns   guest batch  {:>9.0} ns   ratio {:.3}  (per decision)", g.native_batch_per_decision_ns, g.guest_batch_per_decision_ns, g.ratio_guest_vs_native_batch);
                println!("  cold start: compile {:.0} ms, deserialize precompiled {:.1} ms; mean slice per decision {:.0} bytes", g.compile_ms, g.deserialize_ms, g.slice_bytes_mean);
            }
        }
    }
    Ok(Status::Ok)
}

pub fn run_load(
    engine: sesame_tools::load_bench::LoadEngine,
    dir: &Path,
    entities: &Path,
    size: FirmSize,
    decisions: usize,
    guest: Option<&Path>,
    format: Format,
) -> Result<Status, CliError> {
    let bundle = match load_or_report(dir, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let report =
        match sesame_tools::load_bench::run(engine, bundle, entities, size, decisions, guest) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("bench-load failed: {e}");
                return Ok(Status::Problems);
            }
        };
    match format {
        Format::Json => println!("{}", json(&report)),
        Format::Text => {
            let mib = |b: u64| b as f64 / (1 << 20) as f64;
            println!(
                "{}: {} entities; read {:.0} ms, load {:.0} ms, together {:.0} ms; peak RSS {:.0} MiB, loaded {:.0} MiB",
                report.engine,
                report.entities,
                report.read_ms,
                report.load_ms,
                report.read_ms + report.load_ms,
                mib(report.peak_rss_bytes),
                mib(report.loaded_rss_bytes)
            );
            if let Some(d) = &report.decisions {
                println!(
                    "  {} decisions in a wasmtime guest on host-packed slices: p50 {:.0} µs, p99 {:.0} µs, mean slice {:.0} bytes",
                    d.count, d.p50_us, d.p99_us, d.mean_slice_bytes
                );
                println!(
                    "  one-entity delta: insert {:.1} µs, update {:.1} µs (median)",
                    d.delta_insert_us, d.delta_update_us
                );
            }
        }
    }
    Ok(Status::Ok)
}
