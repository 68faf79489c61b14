//! Reading the bundle's one schema, in Cedar or JSON syntax.

use cedar_policy::Schema;

use crate::error::{Diagnostic, ErrorCode, Severity};
use crate::nesting::{self, Syntax};
use crate::source::SourceText;

use super::files::FileKind;

pub(crate) fn parse_schema(
    path: &str,
    kind: FileKind,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Schema> {
    let src = SourceText::new(path, text);
    // Cedar's schema parser recurses over nested records and `Set<...>`, like the policy parser
    // over expressions: refuse what would overflow a stack. (JSON schemas are bounded by
    // serde_json's recursion limit.)
    if kind == FileKind::SchemaCedar {
        if let Err(too_deep) = nesting::check_source(&src, Syntax::Schema) {
            diags.push(too_deep);
            return None;
        }
    }
    match kind {
        FileKind::SchemaCedar => match Schema::from_cedarschema_str(text) {
            Ok((schema, warnings)) => {
                for w in warnings {
                    diags.push(src.diagnostic_from_miette(
                        ErrorCode::SchemaInvalid,
                        Severity::Warning,
                        &w,
                        0,
                    ));
                }
                Some(schema)
            }
            Err(err) => {
                diags.push(src.diagnostic_from_miette(
                    ErrorCode::SchemaInvalid,
                    Severity::Error,
                    &err,
                    0,
                ));
                None
            }
        },
        _ => {
            // Locate JSON syntax problems ourselves: Cedar's JSON schema errors carry no position.
            if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                diags.push(crate::source::json_syntax_diagnostic(&src, &e));
                return None;
            }
            match Schema::from_json_str(text) {
                Ok(schema) => Some(schema),
                Err(err) => {
                    diags.push(src.diagnostic_from_miette(
                        ErrorCode::SchemaInvalid,
                        Severity::Error,
                        &err,
                        0,
                    ));
                    None
                }
            }
        }
    }
}
