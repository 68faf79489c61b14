//! Reading the bundle's one schema, in Cedar or JSON syntax.

use cedar_policy::Schema;

use crate::error::{Diagnostic, ErrorCode, Severity};
use crate::source::SourceText;

use super::files::FileKind;

pub(crate) fn parse_schema(
    path: &str,
    kind: FileKind,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Schema> {
    let src = SourceText::new(path, text);
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
