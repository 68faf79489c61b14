//! `sesame fmt DIR [--check]`: formats the bundle's `.cedar` files canonically with Cedar's own
//! formatter (`cedar-policy-formatter`, the one behind `cedar format`; comments are kept).
//! `--check` changes nothing and exits 1 if any file is not formatted.

use std::path::Path;

use cedar_policy_formatter::{policies_str_to_pretty, Config};
use policy_core::nesting::Syntax;
use policy_core::{classify, FileKind};

use super::{json, load_or_report, CliError, Format, Status};
use bundle_dir::read_files;

const STYLE: Config = Config {
    line_width: 100,
    indent_width: 2,
};

pub fn run(dir: &Path, check: bool, format: Format) -> Result<Status, CliError> {
    let mut unformatted = Vec::new();
    for (path, bytes) in read_files(dir)? {
        if classify(&path) != FileKind::Policies {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        // The formatter parses with Cedar's recursive parser: text nested too deeply is reported
        // (located, by `check`'s loader, which applies the same limits) instead.
        let admitted = policy_core::nesting::check(&path, &text, Syntax::Policy).is_ok();
        let formatted = admitted
            .then(|| policies_str_to_pretty(&text, &STYLE).ok())
            .flatten();
        let Some(pretty) = formatted else {
            // Not parseable: report it the way `check` does (located, with a snippet).
            return match load_or_report(dir, format)? {
                Err(status) => Ok(status),
                Ok(_) => Err(CliError::Usage(format!(
                    "{path}: the formatter cannot read it"
                ))),
            };
        };
        let pretty = format!("{}\n", pretty.trim_end());
        if pretty != text {
            if !check {
                std::fs::write(dir.join(&path), &pretty)?;
            }
            unformatted.push(path);
        }
    }
    match format {
        Format::Json => println!(
            "{}",
            json(&serde_json::json!({ "check": check, "files": unformatted }))
        ),
        Format::Text => {
            let verb = if check { "not formatted" } else { "formatted" };
            for path in &unformatted {
                println!("{verb}: {path}");
            }
            if unformatted.is_empty() {
                println!("all policy files formatted");
            }
        }
    }
    Ok(if check && !unformatted.is_empty() {
        Status::Problems
    } else {
        Status::Ok
    })
}
