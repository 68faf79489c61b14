//! What the fuzz targets share: the input format of the `bundle` target and the demo engine
//! (the bundle in `policies/` with the demo firm) the request targets run against.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use policy_core::{Bundle, Engine};

/// Splits a `bundle` input into files. Each file starts with a header line `--- <path>`; text
/// before the first header is `policies.cedar`. A text format (not a binary one) so that
/// libFuzzer's mutations of seeds stay mostly well-formed and reach deep into the loader.
pub fn split_files(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut path = String::from("policies.cedar");
    let mut body: Vec<u8> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        if let Some(header) = line.strip_prefix(b"--- ") {
            files.push((std::mem::take(&mut path), std::mem::take(&mut body)));
            path = String::from_utf8_lossy(header).trim().to_string();
        } else {
            body.extend_from_slice(line);
        }
    }
    files.push((path, body));
    files.retain(|(p, b)| !(p == "policies.cedar" && b.is_empty()));
    files
}

/// The inverse of [`split_files`], for writing seeds from a bundle folder.
pub fn join_files(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, body) in files {
        out.extend_from_slice(format!("--- {path}\n").as_bytes());
        out.extend_from_slice(body);
        if !body.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// Every file of the bundle folder `dir`, by relative path.
pub fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let (Ok(rel), Ok(bytes)) = (path.strip_prefix(root), std::fs::read(&path)) {
                out.insert(rel.to_string_lossy().replace('\\', "/"), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The demo bundle (`policies/`) with the demo firm's entities, or why not: the request targets
/// cannot run without it, so they report this once and stop.
pub fn demo_engine() -> Result<Engine, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let bundle = Bundle::load(read_dir(&dir)).map_err(|e| e.to_string())?;
    let firm = std::fs::read_to_string(dir.join("tests/fixtures/demo-firm.json"))
        .map_err(|e| e.to_string())?;
    let records = serde_json::from_str(&firm).map_err(|e| e.to_string())?;
    Engine::with_entities(bundle, records).map_err(|e| e.to_string())
}

/// The demo engine as loaded (pristine), and the one each run of a target that changes it
/// works on; a run that changed it puts a copy of the pristine one back, so a crash never
/// depends on what earlier runs did. Exits with 2 if the demo bundle does not load.
pub fn demo_engines() -> &'static (Engine, Mutex<Engine>) {
    static ENGINES: OnceLock<(Engine, Mutex<Engine>)> = OnceLock::new();
    ENGINES.get_or_init(|| match demo_engine() {
        Ok(engine) => (engine.clone(), Mutex::new(engine)),
        Err(e) => {
            eprintln!("the demo bundle does not load: {e}");
            std::process::exit(2)
        }
    })
}

/// One decision on the demo firm, asked after a target changed the engine.
pub const DECISION_AFTER: &str = r#"{"principal": {"type": "User", "id": "carol"},
 "action": {"type": "Action", "id": "view_document"},
 "resource": {"type": "Document", "id": "inv-1"}}"#;
