//! A real server process for end-to-end tests (`sesame-server` here; `sesame serve` where the
//! CLI's tests include this file): started on a free port over a temp data dir, killed
//! (SIGKILL, like a crash) when dropped or restarted.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use host_server::client::ApiClient;
use host_server::server::auth::{hash_token, TokenEntry, TokensFile};
use serde_json::{json, Value};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub const ADMIN: &str = "admin-secret";
/// A back end's token scoped to the firm Dupont.
pub const SERVICE: &str = "service-secret";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub struct Server {
    child: Option<Child>,
    pub data: PathBuf,
    pub url: String,
    /// The entities file the first start seeds the store with.
    entities: PathBuf,
    extra_args: Vec<String>,
}

/// Tokens for every operator role (`<role>-secret`), a service token of the firm Dupont
/// (`service-secret`, author, tenant `dupont`) and sessions of Dupont's users alice, carol and
/// kim (`<user>-session`, member, bound to that user).
fn write_tokens(data: &Path) -> std::io::Result<()> {
    let mut tokens: Vec<TokenEntry> = ["viewer", "author", "deployer", "admin"]
        .iter()
        .map(|role| TokenEntry {
            name: format!("{role}-token"),
            role: role.to_string(),
            sha256: hash_token(&format!("{role}-secret")),
            subject: None,
            tenants: None,
        })
        .collect();
    tokens.push(TokenEntry {
        name: "dupont-service".into(),
        role: "author".into(),
        sha256: hash_token(SERVICE),
        subject: None,
        tenants: Some(vec!["dupont".into()]),
    });
    for user in ["alice", "carol", "kim"] {
        tokens.push(TokenEntry {
            name: format!("{user}-session"),
            role: "member".into(),
            sha256: hash_token(&format!("{user}-session")),
            subject: Some(policy_core::wire::EntityRef::new("User", user)),
            tenants: None,
        });
    }
    std::fs::create_dir_all(data)?;
    std::fs::write(
        data.join("tokens.json"),
        serde_json::to_string(&TokensFile { tokens }).unwrap_or_default(),
    )
}

/// The server binary of the crate whose tests these are: `sesame-server` (host-server) or
/// `sesame serve` (sesame-cli).
fn server_command() -> Result<Command, Box<dyn std::error::Error>> {
    if let Some(server) = option_env!("CARGO_BIN_EXE_sesame-server") {
        return Ok(Command::new(server));
    }
    let sesame = option_env!("CARGO_BIN_EXE_sesame").ok_or("no server binary in this crate")?;
    let mut command = Command::new(sesame);
    command.arg("serve");
    Ok(command)
}

impl Server {
    /// A server on the demo bundle and demo firm, with `extra_args` (limits, masks...).
    pub fn start(name: &str, extra_args: &[&str]) -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_on(
            name,
            &repo().join("policies/tests/fixtures/demo-firm.json"),
            extra_args,
        )
    }

    /// A server on the demo bundle and the entities in `entities`, with `extra_args`.
    pub fn start_on(
        name: &str,
        entities: &Path,
        extra_args: &[&str],
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let data = std::env::temp_dir().join(format!("sesame-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        write_tokens(&data)?;
        let mut server = Self {
            child: None,
            data,
            url: String::new(),
            entities: entities.to_path_buf(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let repo = repo();
        let mut child = server_command()?
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(&self.data)
            .arg("--bundle")
            .arg(repo.join("policies"))
            .arg("--entities")
            .arg(&self.entities)
            .arg("--guest")
            .arg(host_server::guest::default_guest_path())
            // One compiled module for every test server (compiling takes seconds).
            .arg("--guest-cache")
            .arg(host_server::build_output::TargetDir::current().guest_cache())
            .args(&self.extra_args)
            .env("SESAME_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("sesame listening on ")
            .ok_or_else(|| format!("server did not start: {line:?}"))?
            .to_string();
        self.url = url;
        self.child = Some(child);
        Ok(())
    }

    /// Kills the process without warning (a crash) and starts it again on the same data.
    pub fn crash_and_restart(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        self.kill();
        self.spawn()
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn client(&self, token: Option<&str>) -> ApiClient {
        ApiClient::new(&self.url, token.map(String::from))
    }

    pub fn admin(&self) -> ApiClient {
        self.client(Some(ADMIN))
    }

    pub fn anonymous(&self) -> ApiClient {
        self.client(None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

pub fn entity(ty: &str, id: &str) -> Value {
    json!({"type": ty, "id": id})
}

pub fn request(principal: &str, action: &str, resource: (&str, &str)) -> Value {
    json!({
        "principal": entity("User", principal),
        "action": entity("Action", action),
        "resource": entity(resource.0, resource.1),
    })
}

/// One decision by an anonymous caller: its decision and the version that answered (200 only).
pub fn decision(
    server: &Server,
    req: &Value,
) -> Result<(String, String), Box<dyn std::error::Error>> {
    let r = server.anonymous().post("/v1/decide", req)?;
    assert_eq!(r.status, 200, "{}", r.body);
    Ok((
        r.body["decision"].as_str().unwrap_or_default().to_string(),
        r.body["bundle_digest"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

/// A policy that freezes one document (not in the demo firm) for everyone.
pub const FREEZE: &str = r#"// Freezes one document for everyone.
@id("freeze-frozen-1")
forbid (principal, action, resource == Document::"frozen-1");
"#;

/// A call-only acme document: carol (accountant of acme) may view it unless it is frozen.
pub fn frozen_doc_request() -> Value {
    let mut r = request("carol", "view_document", ("Document", "frozen-1"));
    r["entities"] = json!([{
        "uid": entity("Document", "frozen-1"),
        "attrs": {"client": {"__entity": entity("Client", "acme")}, "kind": "customer_invoice", "archived": false},
        "parents": [entity("Client", "acme")]
    }]);
    r
}

/// The demo bundle's files, as a deploy body wants them.
pub fn demo_files() -> Result<serde_json::Map<String, Value>, Box<dyn std::error::Error>> {
    let mut files = serde_json::Map::new();
    for (path, bytes) in bundle_dir::read_files(&repo().join("policies"))? {
        files.insert(path, Value::String(String::from_utf8(bytes)?));
    }
    Ok(files)
}

pub fn wait_until(mut ok: impl FnMut() -> bool, what: &str) -> Result<(), String> {
    for _ in 0..200 {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!("timed out waiting for {what}"))
}

/// A throwaway PostgreSQL server (Debian's binaries) in a temp dir, on a free loopback port,
/// run as the `postgres` user when the tests run as root (initdb refuses root).
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    pub fn start(name: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").is_file())
            .collect();
        bins.sort();
        let bin = bins
            .pop()
            .ok_or("no PostgreSQL server (apt package postgresql)")?;
        let dir = std::env::temp_dir().join(format!("sesame-pg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let pg = Self {
            dir,
            bin,
            port: free_port()?,
        };
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pg.dir)
                .status()?
                .success();
            if !ok {
                return Err("cannot chown the PostgreSQL dir to postgres".into());
            }
        }
        pg.run(
            "initdb",
            &["-D", &pg.data(), "-A", "trust", "-U", "sesame", "--no-sync"],
        )?;
        pg.resume()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command.args(args).stdin(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("postgres://sesame@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn resume(&self) -> Result<(), Box<dyn std::error::Error>> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").to_string_lossy().into_owned();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        )
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) -> Result<(), Box<dyn std::error::Error>> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
