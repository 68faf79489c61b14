//! Terminal rendering of located diagnostics: `file:line:column`, the source line and a caret
//! under the offending text (the shape miette and rustc use). Colour only on a terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use policy_core::{Diagnostic, Severity};

/// Whether to emit ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    On,
    Off,
}

impl Colour {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Self::On
        } else {
            Self::Off
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        match self {
            Self::On => format!("\x1b[{code}m{text}\x1b[0m"),
            Self::Off => text.to_string(),
        }
    }
}

/// Renders one diagnostic; `sources` maps bundle paths to their text for the snippet.
pub fn diagnostic(d: &Diagnostic, sources: &BTreeMap<String, String>, colour: Colour) -> String {
    let mut out = String::new();
    let (label, code) = match d.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    let _ = writeln!(
        out,
        "{}: {}",
        colour.paint(code, &format!("{label}[{}]", d.code)),
        d.message
    );
    if let Some(loc) = &d.location {
        let _ = writeln!(out, "  --> {loc}");
        let line_text = sources
            .get(&loc.file)
            .and_then(|text| text.lines().nth(loc.line.saturating_sub(1) as usize));
        if let Some(line_text) = line_text {
            let number = loc.line.to_string();
            let pad = " ".repeat(number.len());
            let caret_col = loc.column.saturating_sub(1) as usize;
            let width = d.length.map(|l| l as usize).unwrap_or(1).clamp(
                1,
                line_text.chars().count().saturating_sub(caret_col).max(1),
            );
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{number} | {line_text}");
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(caret_col),
                colour.paint(code, &"^".repeat(width))
            );
        }
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "  = help: {help}");
    }
    out
}

/// Renders every diagnostic, errors first in file order, then a one-line summary.
pub fn diagnostics(
    all: &[Diagnostic],
    sources: &BTreeMap<String, String>,
    colour: Colour,
) -> String {
    let mut sorted: Vec<&Diagnostic> = all.iter().collect();
    sorted.sort_by_key(|d| {
        (
            d.severity != Severity::Error,
            d.location
                .as_ref()
                .map(|l| (l.file.clone(), l.line, l.column)),
        )
    });
    let mut out = String::new();
    for d in &sorted {
        out.push_str(&diagnostic(d, sources, colour));
        out.push('\n');
    }
    let errors = all.iter().filter(|d| d.is_error()).count();
    let warnings = all.len() - errors;
    let _ = writeln!(out, "{errors} error(s), {warnings} warning(s)");
    out
}
