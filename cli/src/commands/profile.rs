//! `sesame profile compare DIR P1 P2`: two access profiles side by side, differences only.

use std::fmt::Write as _;
use std::path::Path;

use policy_core::wire::EntityRef;
use policy_core::Engine;

use super::{json, load_or_report, CliError, Format, Status};

/// `AccessProfile::"x"` or a bare id `x` (meaning `AccessProfile::"x"`).
pub fn profile_ref(text: &str) -> EntityRef {
    match text.split_once("::\"") {
        Some((ty, rest)) => EntityRef::new(ty, rest.trim_end_matches('"')),
        None => EntityRef::new("AccessProfile", text),
    }
}

pub fn compare(dir: &Path, left: &str, right: &str, format: Format) -> Result<Status, CliError> {
    let bundle = match load_or_report(dir, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let engine = Engine::new(bundle);
    let (left, right) = (profile_ref(left), profile_ref(right));
    let diffs = match engine.compare_profiles(&left, &right) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            return Ok(Status::Problems);
        }
    };
    match format {
        Format::Json => println!("{}", json(&diffs)),
        Format::Text => {
            let mut out = String::new();
            let width = diffs.iter().map(|d| d.key.len()).max().unwrap_or(5).max(5);
            let (lw, rw) = (left.id.len().max(5), right.id.len().max(5));
            let _ = writeln!(
                out,
                "{:width$}  {:>lw$}  {:>rw$}",
                "field", left.id, right.id
            );
            for d in &diffs {
                let _ = writeln!(
                    out,
                    "{:width$}  {:>lw$}  {:>rw$}",
                    d.key,
                    d.left.as_str(),
                    d.right.as_str()
                );
            }
            if diffs.is_empty() {
                let _ = writeln!(out, "(no differences)");
            }
            print!("{out}");
        }
    }
    Ok(Status::Ok)
}
