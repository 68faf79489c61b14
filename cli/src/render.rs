//! Terminal rendering of located diagnostics, drawn by miette's graphical report handler: the
//! code, the message, `[file:line:column]`, the source lines around it with the offending text
//! underlined, and the help. Colour only on a terminal.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use policy_core::{Diagnostic, Location, Severity};

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

    fn theme(self) -> GraphicalTheme {
        match self {
            Self::On => GraphicalTheme::unicode(),
            Self::Off => GraphicalTheme::unicode_nocolor(),
        }
    }
}

/// Renders one diagnostic; `sources` maps bundle paths to their text for the snippet.
pub fn diagnostic(d: &Diagnostic, sources: &BTreeMap<String, String>, colour: Colour) -> String {
    let located = Located::new(d, sources);
    // Unwrapped messages stay on one line (greppable; the terminal wraps). The header names our
    // own `file:line:column` (characters, as in the JSON output), not miette's byte column.
    let handler = GraphicalReportHandler::new_themed(colour.theme())
        .with_wrap_lines(false)
        .without_primary_span_start();
    let mut out = String::new();
    if handler.render_report(&mut out, &located).is_err() {
        // Only a snippet miette cannot read fails; the message and place still go out.
        out = format!("{}\n", located);
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

/// A diagnostic with the file text its location points into, as miette wants it.
#[derive(Debug)]
struct Located<'a> {
    diagnostic: &'a Diagnostic,
    snippet: Option<Snippet<'a>>,
}

impl<'a> Located<'a> {
    fn new(diagnostic: &'a Diagnostic, sources: &'a BTreeMap<String, String>) -> Self {
        let snippet = diagnostic.location.as_ref().and_then(|loc| {
            let text = sources.get(&loc.file)?;
            Some(Snippet {
                name: loc.to_string(),
                span: span(text, loc, diagnostic.length)?,
                text,
            })
        });
        Self {
            diagnostic,
            snippet,
        }
    }
}

impl std::fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.diagnostic.location, &self.snippet) {
            // No text to show: the place goes in the message.
            (Some(loc), None) => write!(f, "{loc}: {}", self.diagnostic.message),
            _ => f.write_str(&self.diagnostic.message),
        }
    }
}

impl std::error::Error for Located<'_> {}

impl miette::Diagnostic for Located<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.snippet.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.snippet.as_ref()?.span;
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(None, span),
        )))
    }
}

/// A file's text, named after the diagnostic's location (borrowed: a bundle with many problems
/// in one large file must not copy it once per problem).
#[derive(Debug)]
struct Snippet<'a> {
    name: String,
    text: &'a str,
    span: SourceSpan,
}

impl SourceCode for Snippet<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let contents = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        )))
    }
}

/// The bytes a diagnostic points at: from its 1-based line and character column, `length` bytes
/// (one character when unknown), kept on that line: a span over a whole policy would print the
/// whole policy. `None` when the line is not in the text.
fn span(text: &str, loc: &Location, length: Option<u32>) -> Option<SourceSpan> {
    let line_index = usize::try_from(loc.line).ok()?.checked_sub(1)?;
    let line_start = match line_index {
        0 => 0,
        n => text.match_indices('\n').nth(n - 1)?.0 + 1,
    };
    let line = text.get(line_start..)?.split('\n').next()?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let column = usize::try_from(loc.column).ok()?.saturating_sub(1);
    let start = line
        .char_indices()
        .nth(column)
        .map(|(i, _)| i)
        .unwrap_or(line.len());
    let rest = line.get(start..)?;
    let first_char = rest.chars().next().map(char::len_utf8).unwrap_or(0);
    let wanted = length.and_then(|l| usize::try_from(l).ok());
    let mut len = wanted.unwrap_or(first_char).max(first_char).min(rest.len());
    while !rest.is_char_boundary(len) {
        len -= 1;
    }
    Some(SourceSpan::new((line_start + start).into(), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_core::ErrorCode;

    fn sources(text: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("p.cedar".to_string(), text.to_string())])
    }

    fn at(line: u32, column: u32) -> Option<Location> {
        Some(Location {
            file: "p.cedar".into(),
            line,
            column,
        })
    }

    #[test]
    fn the_snippet_underlines_the_located_text_under_its_file_line_and_column() {
        let text = "permit (\n  principal,\n  action == Actoin::\"view\",\n  resource\n);\n";
        let d = Diagnostic::error(ErrorCode::PolicyParse, "unknown type `Actoin`")
            .at(at(3, 13))
            .with_length(Some(6));
        let out = diagnostic(&d, &sources(text), Colour::Off);
        assert!(out.starts_with("policy_parse\n"), "{out}");
        assert!(out.contains("× unknown type `Actoin`"), "{out}");
        assert!(out.contains("[p.cedar:3:13]"), "{out}");
        // The line before and after for context, the offending six bytes underlined.
        assert!(
            out.contains(" 2 │   principal,\n 3 │   action == Actoin::\"view\","),
            "{out}"
        );
        assert!(out.contains(" 4 │   resource\n"), "{out}");
        let (at, under) = underline(&out, "action == Actoin", 'A');
        assert_eq!(
            under.find('─').map(|i| under[..i].chars().count()),
            Some(at),
            "{out}"
        );
        assert_eq!(under.matches('─').count(), 6, "{out}");
    }

    /// The character column of `ch` in the rendered line containing `text`, and the line below.
    fn underline<'a>(out: &'a str, text: &str, ch: char) -> (usize, &'a str) {
        let mut lines = out.lines().skip_while(|l| !l.contains(text));
        let line = lines.next().unwrap_or_default();
        let at = line.chars().position(|c| c == ch).unwrap_or(usize::MAX);
        (at, lines.next().unwrap_or_default())
    }

    #[test]
    fn columns_count_characters_and_help_is_shown() {
        // `é` is two bytes: column 50 is `x`, the 50th character (the 51st byte).
        let text = "// é\npermit(principal, action, resource) when { \"é\" + x };\n";
        let mut d = Diagnostic::warning(ErrorCode::PolicyParse, "odd").at(at(2, 50));
        d.help = Some("write it otherwise".into());
        let out = diagnostic(&d, &sources(text), Colour::Off);
        assert!(out.contains("⚠ odd"), "{out}");
        assert!(out.contains("[p.cedar:2:50]"), "{out}");
        assert!(out.contains("help: write it otherwise"), "{out}");
        let (at, under) = underline(&out, "permit(principal", 'x');
        let caret = under.chars().position(|c| c == '─');
        assert_eq!(caret, Some(at), "{out}");
    }

    #[test]
    fn a_location_outside_the_text_is_still_named() {
        let d = Diagnostic::error(ErrorCode::PolicyParse, "gone").at(at(40, 1));
        let out = diagnostic(
            &d,
            &sources("permit(principal, action, resource);\n"),
            Colour::Off,
        );
        assert!(out.contains("p.cedar:40:1: gone"), "{out}");
        let summary = diagnostics(&[d], &BTreeMap::new(), Colour::Off);
        assert!(summary.ends_with("1 error(s), 0 warning(s)\n"), "{summary}");
    }
}
