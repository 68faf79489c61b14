//! What each file of a bundle is, and the bundle's content digest.

use sha2::{Digest, Sha256};

use crate::error::{Diagnostic, ErrorCode};

/// The role of one file in a bundle, decided by its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Policies,
    SchemaCedar,
    SchemaJson,
    Entities,
    Manifest,
    /// Template links (`links.json`, `*.links.json`), as Cedar's CLI takes them.
    TemplateLinks,
    /// A test suite (`*.yaml`/`*.yml` under `tests/`, or `*.test.yaml` / `*.test.json` anywhere).
    TestSuite,
    /// Entity JSON used by tests only (`*.json` under `tests/`).
    TestFixture,
    /// Anything else (README, editor files): not part of the bundle or its digest.
    Ignored,
}

pub fn classify(path: &str) -> FileKind {
    let name = path.rsplit('/').next().unwrap_or(path);
    let in_tests = path.starts_with("tests/") || path.contains("/tests/");
    if name.ends_with(".cedar") {
        FileKind::Policies
    } else if name.ends_with(".cedarschema") {
        FileKind::SchemaCedar
    } else if name.ends_with(".cedarschema.json") {
        FileKind::SchemaJson
    } else if path == "manifest.json" {
        FileKind::Manifest
    } else if !in_tests && (name == "links.json" || name.ends_with(".links.json")) {
        FileKind::TemplateLinks
    } else if name.ends_with(".test.yaml")
        || name.ends_with(".test.yml")
        || name.ends_with(".test.json")
        || (in_tests && (name.ends_with(".yaml") || name.ends_with(".yml")))
    {
        FileKind::TestSuite
    } else if in_tests && name.ends_with(".json") {
        FileKind::TestFixture
    } else if name.ends_with(".json") {
        FileKind::Entities
    } else {
        FileKind::Ignored
    }
}

/// Normalizes a path handed in by a host: forward slashes, no leading `./`, relative, no `..`.
pub fn normalize_path(raw: &str) -> Result<String, Diagnostic> {
    let unified = raw.replace('\\', "/");
    let mut parts = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Diagnostic::error(
                    ErrorCode::InvalidPath,
                    format!("bundle path `{raw}` leaves the bundle (`..`)"),
                ))
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() || unified.starts_with('/') {
        return Err(Diagnostic::error(
            ErrorCode::InvalidPath,
            format!("bundle path `{raw}` must be a relative file path"),
        ));
    }
    Ok(parts.join("/"))
}

/// Text as the bundle sees it: UTF-8, CRLF folded to LF, so a checkout on any platform gives the
/// same policies, positions and digest.
pub fn normalize_text(bytes: &[u8]) -> Result<String, std::str::Utf8Error> {
    let text = std::str::from_utf8(bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Ok(text.replace("\r\n", "\n"))
}

/// SHA-256 over the canonical listing: for each file sorted by path, `path \0 sha256(text) \n`.
pub fn digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut listing: Vec<(&str, &str)> = files.into_iter().collect();
    listing.sort_by(|a, b| a.0.cmp(b.0));
    let mut outer = Sha256::new();
    for (path, text) in listing {
        outer.update(path.as_bytes());
        outer.update([0u8]);
        outer.update(hex::encode(Sha256::digest(text.as_bytes())).as_bytes());
        outer.update(b"\n");
    }
    format!("sha256:{}", hex::encode(outer.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_path() {
        assert_eq!(classify("a/b.cedar"), FileKind::Policies);
        assert_eq!(classify("schema.cedarschema"), FileKind::SchemaCedar);
        assert_eq!(classify("s.cedarschema.json"), FileKind::SchemaJson);
        assert_eq!(classify("entities.json"), FileKind::Entities);
        assert_eq!(classify("manifest.json"), FileKind::Manifest);
        assert_eq!(classify("links.json"), FileKind::TemplateLinks);
        assert_eq!(classify("share.links.json"), FileKind::TemplateLinks);
        assert_eq!(classify("tests/roles.yaml"), FileKind::TestSuite);
        assert_eq!(classify("x.test.json"), FileKind::TestSuite);
        assert_eq!(classify("tests/fixtures/firm.json"), FileKind::TestFixture);
        assert_eq!(classify("README.md"), FileKind::Ignored);
    }

    #[test]
    fn paths_are_normalized_and_confined() {
        assert_eq!(
            normalize_path(".\\a\\b.cedar").ok(),
            Some("a/b.cedar".into())
        );
        assert!(normalize_path("../x.cedar").is_err());
        assert!(normalize_path("/etc/x.cedar").is_err());
    }

    #[test]
    fn digest_ignores_order_and_line_endings() {
        let a = normalize_text(b"permit(principal, action, resource);\r\n").unwrap_or_default();
        let b = normalize_text(b"permit(principal, action, resource);\n").unwrap_or_default();
        let d1 = digest([("p.cedar", a.as_str()), ("e.json", "[]")]);
        let d2 = digest([("e.json", "[]"), ("p.cedar", b.as_str())]);
        assert_eq!(d1, d2);
        assert_ne!(d1, digest([("q.cedar", b.as_str()), ("e.json", "[]")]));
    }
}
