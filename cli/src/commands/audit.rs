//! `sesame audit verify --data DIR | --database-url URL [--head HASH]`: walks the audit chain
//! in a server's store directly (the server need not run), so an operator can check it from a
//! backup too. With `--head`, a head published earlier (`GET /v1/admin/audit/head`) must still
//! be in the chain: the only way to see records deleted from its end.

use std::path::Path;

use super::{json, CliError, Format, Status};
use host_server::store::audit::{verify as verify_chain, verify_with_head};

pub fn verify(
    data: &Path,
    database_url: Option<&str>,
    head: Option<&str>,
    format: Format,
) -> Result<Status, CliError> {
    // The store `sesame serve` would open, never a new SQLite file.
    if database_url.is_none() && !data.join("sesame.db").is_file() {
        return Err(CliError::Usage(format!(
            "no store at {}",
            data.join("sesame.db").display()
        )));
    }
    let store = host_server::store::open(data, database_url)
        .map_err(|e| CliError::Server(e.to_string()))?;
    let records = store
        .audit(0, usize::MAX >> 1)
        .map_err(|e| CliError::Server(e.to_string()))?;
    let check = match head {
        Some(head) => verify_with_head(&records, head),
        None => verify_chain(&records),
    };
    match format {
        Format::Json => println!("{}", json(&check)),
        Format::Text if check.ok => {
            println!(
                "audit chain ok: {} records, head {}",
                check.records, check.head
            )
        }
        Format::Text => println!(
            "audit chain BROKEN at record {}: {}",
            check.broken_at.unwrap_or_default(),
            check.reason.clone().unwrap_or_default()
        ),
    }
    Ok(if check.ok {
        Status::Ok
    } else {
        Status::Problems
    })
}
