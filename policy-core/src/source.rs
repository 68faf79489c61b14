//! Turning byte offsets in a bundle file into file:line:column, and finding where things start
//! in a file (policies in a `.cedar` file, elements of a JSON array) so that problems Cedar reports
//! without a position can still be located.

use crate::error::{render_chain, Diagnostic, ErrorCode, Location, Severity};

/// A bundle file's text with a line index, so many offsets can be located cheaply.
pub(crate) struct SourceText<'a> {
    pub path: &'a str,
    pub text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceText<'a> {
    pub fn new(path: &'a str, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            path,
            text,
            line_starts,
        }
    }

    /// 1-based line and character column of a byte offset (clamped to the text).
    pub fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line_idx).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        Location {
            file: self.path.to_string(),
            line: u32::try_from(line_idx + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }

    pub fn location_at(&self, line: usize, column: usize) -> Location {
        Location {
            file: self.path.to_string(),
            line: u32::try_from(line.max(1)).unwrap_or(u32::MAX),
            column: u32::try_from(column.max(1)).unwrap_or(u32::MAX),
        }
    }

    pub fn start(&self) -> Location {
        self.location_at(1, 1)
    }

    /// Converts any miette diagnostic from Cedar (parse, schema, validation errors) into ours,
    /// using its first label as the position. `base` shifts offsets when the text Cedar saw was a
    /// slice of this file.
    pub fn diagnostic_from_miette(
        &self,
        code: ErrorCode,
        severity: Severity,
        err: &(dyn miette::Diagnostic + Send + Sync + 'static),
        base: usize,
    ) -> Diagnostic {
        let first_label = err.labels().and_then(|mut labels| labels.next());
        let (location, length) = match &first_label {
            Some(label) => (
                Some(self.locate(base + label.offset())),
                u32::try_from(label.len()).ok(),
            ),
            None => (Some(self.start()), None),
        };
        let mut message = render_chain(err);
        if let Some(text) = first_label.as_ref().and_then(|l| l.label()) {
            if !message.contains(text) {
                message = format!("{message} ({text})");
            }
        }
        Diagnostic {
            code,
            severity,
            message,
            location,
            length,
            help: err.help().map(|h| h.to_string()),
        }
    }
}

/// Byte offsets where each top-level Cedar statement (policy or template) starts, in order.
/// Cedar numbers the policies of a parsed text `policy0, policy1, ...` in this same order, so the
/// n-th offset is where policy n starts. Skips strings and comments; statements end with `;`.
pub(crate) fn policy_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    let mut in_statement = false;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                if !in_statement {
                    starts.push(i);
                    in_statement = true;
                }
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b';' => in_statement = false,
            b if b.is_ascii_whitespace() => {}
            _ => {
                if !in_statement {
                    starts.push(i);
                    in_statement = true;
                }
            }
        }
        i += 1;
    }
    starts
}

/// Byte offsets of the elements of a top-level JSON array (empty if the text is not an array).
pub(crate) fn json_array_element_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut depth = 0usize;
    let mut expecting_element = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' {
            if depth == 1 && expecting_element {
                starts.push(i);
                expecting_element = false;
            }
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        match b {
            b'[' | b'{' => {
                if depth == 1 && expecting_element {
                    starts.push(i);
                    expecting_element = false;
                }
                if depth == 0 && b == b'{' {
                    return Vec::new();
                }
                depth += 1;
                if depth == 1 {
                    expecting_element = true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expecting_element = true,
            b if b.is_ascii_whitespace() => {}
            _ => {
                if depth == 1 && expecting_element {
                    starts.push(i);
                    expecting_element = false;
                }
            }
        }
        i += 1;
    }
    starts
}

/// A serde_json syntax error, located.
pub(crate) fn json_syntax_diagnostic(src: &SourceText<'_>, err: &serde_json::Error) -> Diagnostic {
    Diagnostic::error(ErrorCode::MalformedJson, format!("invalid json: {err}"))
        .at(Some(src.location_at(err.line(), err.column())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_character_columns() {
        let src = SourceText::new("a.cedar", "ab\ncdé\nf");
        assert_eq!(src.locate(0).line, 1);
        let loc = src.locate(8); // 'f' after "cdé\n" (é is two bytes)
        assert_eq!((loc.line, loc.column), (3, 1));
        let loc = src.locate(5); // 'é'
        assert_eq!((loc.line, loc.column), (2, 3));
    }

    #[test]
    fn finds_policy_starts_past_comments_and_strings() {
        let text = "// a; comment\n@id(\"x;y\")\npermit(principal, action, resource);\n\n  forbid(principal, action, resource) when { \"a;\" == \"b\" };\n";
        let starts = policy_starts(text);
        assert_eq!(starts.len(), 2);
        assert!(text[starts[0]..].starts_with("@id"));
        assert!(text[starts[1]..].starts_with("forbid"));
    }

    #[test]
    fn finds_json_array_elements() {
        let text = "[\n {\"a\": [1, 2]},\n \"s,]\" ,\n 3\n]";
        let starts = json_array_element_starts(text);
        assert_eq!(starts.len(), 3);
        assert!(text[starts[1]..].starts_with("\"s,]\""));
        assert!(text[starts[2]..].starts_with('3'));
    }
}
