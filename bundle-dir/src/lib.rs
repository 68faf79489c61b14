//! Reads a bundle folder from disk into the `(path, bytes)` pairs `policy-core` loads.
//! `policy-core` does no I/O; this is the only place the CLI touches bundle files.

use std::fs;
use std::path::{Path, PathBuf};

use policy_core::{Bundle, BundleError};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
}

/// Every regular file under `dir` (hidden entries skipped), with `/`-separated relative paths.
pub fn read_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, ReadError> {
    if !dir.is_dir() {
        return Err(ReadError::NotADirectory(dir.to_path_buf()));
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> Result<(), ReadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, fs::read(&path).map_err(io(&path))?));
        }
    }
    Ok(())
}

/// A folder that could not become a bundle: unreadable, or invalid with located diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Invalid(#[from] BundleError),
}

/// Reads and loads a bundle folder; the returned files let callers render source snippets.
pub fn load_dir(dir: &Path) -> Result<Bundle, LoadError> {
    let files = read_files(dir)?;
    Ok(Bundle::load(files)?)
}
