//! The scripts honour CARGO_TARGET_DIR: every path they build into or read from lies under it
//! (issue 19: `wasm-build.sh` wrote under it while `browser-pkg.sh` and `run.sh` looked in
//! `target/`). Checked without building anything: `scripts/paths.sh` names the paths and agrees
//! with the Rust side (`host_server::build_output`), no script spells a `target/` path of its
//! own, and `wasm-build.sh` and `browser-pkg.sh` run against stand-in tools that record where
//! they were sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use host_server::build_output::TargetDir;
use sesame_tests::repo_root;

/// A fresh directory under the system's temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sesame-scripts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `scripts/paths.sh` run on its own, with CARGO_TARGET_DIR set to `value` (or unset).
fn printed_paths(value: Option<&str>) -> BTreeMap<String, PathBuf> {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/paths.sh"))
        // From elsewhere: the script finds the root itself.
        .current_dir(std::env::temp_dir());
    match value {
        Some(v) => cmd.env("CARGO_TARGET_DIR", v),
        None => cmd.env_remove("CARGO_TARGET_DIR"),
    };
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
        .collect()
}

#[test]
fn paths_sh_and_the_rust_side_name_the_same_outputs_under_cargo_target_dir() {
    let elsewhere = temp_dir("elsewhere");
    let cases = [
        None,
        Some(elsewhere.to_str().unwrap()),
        Some("relative/out"),
        Some(""),
    ];
    for value in cases {
        let paths = printed_paths(value);
        let root = &paths["ROOT"];
        assert_eq!(
            root.canonicalize().unwrap(),
            repo_root().canonicalize().unwrap()
        );
        let rust = TargetDir::resolve(root, value.map(OsStr::new));
        let expected = BTreeMap::from([
            ("TARGET", rust.dir.clone()),
            ("WASM_TARGET", rust.wasm()),
            ("BROWSER_WASM", rust.browser_wasm()),
            ("GUEST_WASM", rust.guest_wasm()),
            ("PKG", rust.pkg()),
            ("GUEST_CACHE", rust.guest_cache()),
            ("FUZZ_TARGET", rust.fuzz()),
            ("SESAME", rust.sesame()),
        ]);
        for (name, path) in &expected {
            assert_eq!(paths.get(*name), Some(path), "{name} with {value:?}");
        }
        assert_eq!(paths.len(), expected.len() + 1, "{paths:?}");
        let target = match value {
            Some(v) if !v.is_empty() => root.join(v),
            _ => root.join("target"),
        };
        for (name, path) in &expected {
            assert!(
                path.starts_with(&target),
                "{name}: {path:?} outside {target:?}"
            );
        }
    }
    std::fs::remove_dir_all(elsewhere).unwrap();
}

#[test]
fn every_script_takes_its_paths_from_paths_sh() {
    let scripts = repo_root().join("scripts");
    let mut checked = 0;
    for entry in std::fs::read_dir(&scripts).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.extension() != Some(OsStr::new("sh")) || name == "paths.sh" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(". \"$(dirname \"$0\")/paths.sh\""),
            "{name} does not source scripts/paths.sh"
        );
        for (i, line) in text.lines().enumerate() {
            let code = line.split(" #").next().unwrap_or(line);
            if code.trim_start().starts_with('#') {
                continue;
            }
            assert!(
                !code.contains("target/"),
                "{name}:{}: a path of its own under target/: {line}",
                i + 1
            );
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} scripts found");
}

/// A directory of stand-in tools: each logs its name, CARGO_TARGET_DIR and arguments.
fn stand_ins(dir: &Path, log: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tools = [
        // A rustup with the wasm32 target installed: wasm-build.sh then runs plain `cargo`.
        ("rustup", "echo wasm32-unknown-unknown"),
        ("cargo", ""),
        // Stops browser-pkg.sh once it has said where the wasm and the package are.
        ("wasm-bindgen", "exit 3"),
    ];
    for (name, then) in tools {
        let path = bin.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{name} CARGO_TARGET_DIR=$CARGO_TARGET_DIR $*\" >> '{}'\n{then}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn wasm_build_and_browser_pkg_build_and_read_under_cargo_target_dir() {
    let dir = temp_dir("stand-ins");
    let log = dir.join("log");
    let bin = stand_ins(&dir, &log);
    let target = dir.join("target");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/browser-pkg.sh"))
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    let t = target.display();
    // No wasm yet: browser-pkg.sh asks wasm-build.sh, which builds into the wasm target dir...
    assert!(
        log.contains(&format!(
            "cargo CARGO_TARGET_DIR={t}/wasm build --profile wasm --target wasm32-unknown-unknown -p wasm-bindings"
        )),
        "{log}"
    );
    // ...then hands wasm-bindgen that build's output and the package dir beside it.
    assert!(
        log.contains(&format!(
            "wasm-bindgen CARGO_TARGET_DIR={t} --target web --remove-name-section --remove-producers-section --out-dir {t}/pkg {t}/wasm/wasm32-unknown-unknown/wasm/wasm_bindings.wasm"
        )),
        "{log}"
    );
    assert!(target.join("pkg").is_dir());
    std::fs::remove_dir_all(dir).unwrap();
}
