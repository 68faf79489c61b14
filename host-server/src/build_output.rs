//! Where the scripts put what they build, by the rule of `scripts/paths.sh`: cargo's target
//! directory is `$CARGO_TARGET_DIR` (a relative one read from the repository root, as cargo reads
//! it there), else `target/` at the root, and every output lies under it. The tests and the
//! CLI's defaults look here, so that setting CARGO_TARGET_DIR moves builds and readers together.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The repository root (this crate is one of its members).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.join(".."))
}

/// Cargo's target directory and the outputs the scripts build under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetDir {
    pub dir: PathBuf,
}

impl TargetDir {
    /// The target directory of this process's environment.
    pub fn current() -> Self {
        Self::resolve(
            &repo_root(),
            std::env::var_os("CARGO_TARGET_DIR").as_deref(),
        )
    }

    /// The target directory for a `CARGO_TARGET_DIR` value (unset or empty: `target/`), with
    /// relative values read from `repo`.
    pub fn resolve(repo: &Path, cargo_target_dir: Option<&OsStr>) -> Self {
        let dir = cargo_target_dir
            .filter(|d| !d.is_empty())
            .unwrap_or(OsStr::new("target"));
        Self {
            dir: repo.join(dir),
        }
    }

    /// The wasm32 builds' own target directory (another rustc, with build-std).
    pub fn wasm(&self) -> PathBuf {
        self.dir.join("wasm")
    }

    /// The size-optimized browser face (`scripts/wasm-build.sh wasm -p wasm-bindings`).
    pub fn browser_wasm(&self) -> PathBuf {
        self.wasm()
            .join("wasm32-unknown-unknown/wasm/wasm_bindings.wasm")
    }

    /// The wasmtime guest (`scripts/wasm-build.sh wasm-guest -p wasm-guest`).
    pub fn guest_wasm(&self) -> PathBuf {
        self.wasm()
            .join("wasm32-unknown-unknown/wasm-guest/wasm_guest.wasm")
    }

    /// The browser package (`scripts/browser-pkg.sh`), with the console's editor in `editor/`.
    pub fn pkg(&self) -> PathBuf {
        self.dir.join("pkg")
    }

    /// Precompiled guest modules shared by test servers.
    pub fn guest_cache(&self) -> PathBuf {
        self.dir.join("guest-cache")
    }

    /// The fuzz workspace's instrumented builds (`scripts/fuzz.sh`).
    pub fn fuzz(&self) -> PathBuf {
        self.dir.join("fuzz")
    }

    /// The release build of the `sesame` CLI.
    pub fn sesame(&self) -> PathBuf {
        self.dir.join("release/sesame")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_target_dir_moves_every_output_and_is_read_from_the_root() {
        let repo = Path::new("/repo");
        let default = TargetDir::resolve(repo, None);
        assert_eq!(default, TargetDir::resolve(repo, Some(OsStr::new(""))));
        assert_eq!(default.pkg(), Path::new("/repo/target/pkg"));
        let absolute = TargetDir::resolve(repo, Some(OsStr::new("/tmp/t")));
        assert_eq!(
            absolute.guest_wasm(),
            Path::new("/tmp/t/wasm/wasm32-unknown-unknown/wasm-guest/wasm_guest.wasm")
        );
        let relative = TargetDir::resolve(repo, Some(OsStr::new("out")));
        assert_eq!(relative.sesame(), Path::new("/repo/out/release/sesame"));
    }
}
