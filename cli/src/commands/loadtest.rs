//! `sesame loadtest --server URL DIR`: see `sesame_tools::loadtest`.

use std::path::Path;

use super::{json, load_or_report, remote::client, CliError, Format, Status};
use sesame_tools::loadtest::{self, LoadPlan, Phase};

fn row(p: &Phase, native: &Phase) {
    println!(
        "  {:<26} {:>11.0} {:>9.0} {:>9.0} {:>8.1}x {:>7}",
        p.name,
        p.decisions_per_s,
        p.p50_us,
        p.p99_us,
        p.p50_us / native.p50_us.max(1e-9),
        p.failed
    );
}

pub fn run(
    server: &str,
    token_file: Option<&Path>,
    dir: &Path,
    mut plan: LoadPlan,
    replicas: &[String],
    format: Format,
) -> Result<Status, CliError> {
    let bundle = match load_or_report(dir, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let client = client(server, token_file)?;
    plan.replicas = replicas.iter().map(|url| client.at(url)).collect();
    let report =
        loadtest::run(&client, bundle, &plan).map_err(|e| CliError::Server(e.to_string()))?;
    match format {
        Format::Json => println!("{}", json(&report)),
        Format::Text => {
            println!(
                "generated firm: {} entities; {} client threads, {:?} per phase, batches of {}",
                report.entities, plan.concurrency, plan.duration, plan.batch
            );
            println!(
                "  {:<26} {:>11} {:>9} {:>9} {:>9} {:>7}",
                "phase", "decisions/s", "p50 µs", "p99 µs", "p50/nat", "failed"
            );
            for p in [
                &report.native,
                &report.single,
                &report.batch,
                &report.during_deploys,
            ]
            .into_iter()
            .chain(report.all_replicas.as_ref())
            {
                row(p, &report.native);
            }
            println!(
                "  batch/single throughput: {:.1}x; activations during load: {}",
                report.batch.decisions_per_s / report.single.decisions_per_s.max(1e-9),
                report.activations_during_load
            );
            if let Some(all) = &report.all_replicas {
                println!(
                    "  {} replicas / 1 replica throughput: {:.2}x",
                    report.replica_count,
                    all.decisions_per_s / report.single.decisions_per_s.max(1e-9)
                );
            }
        }
    }
    let failed = report.single.failed
        + report.batch.failed
        + report.during_deploys.failed
        + report.all_replicas.as_ref().map_or(0, |p| p.failed);
    Ok(if failed == 0 {
        Status::Ok
    } else {
        Status::Problems
    })
}
