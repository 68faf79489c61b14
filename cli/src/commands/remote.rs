//! Commands that talk to a running server's admin API: deploy, activate, rollback, history.
//! The token comes from `--token-file` or the `SESAME_TOKEN` environment variable.

use std::path::Path;

use serde_json::{json, Value};

use super::{json as to_json, load_or_report, CliError, Format, Status};
use host_server::client::{ApiClient, ApiResponse};

pub fn client(server: &str, token_file: Option<&Path>) -> Result<ApiClient, CliError> {
    let token = match token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| {
                    CliError::Usage(format!("cannot read token file {}: {e}", path.display()))
                })?
                .trim()
                .to_string(),
        ),
        None => std::env::var("SESAME_TOKEN").ok(),
    };
    Ok(ApiClient::new(server, token))
}

/// A successful GET's JSON body as `T`; any failure names the path.
pub fn get_json<T: serde::de::DeserializeOwned>(
    api: &ApiClient,
    path: &str,
) -> Result<T, CliError> {
    let r = call(api.get(path))?;
    if !r.ok() {
        return Err(CliError::Server(format!("{path}: {} {}", r.status, r.body)));
    }
    serde_json::from_value(r.body).map_err(|e| CliError::Server(format!("{path}: {e}")))
}

fn call(
    result: Result<ApiResponse, host_server::client::ClientError>,
) -> Result<ApiResponse, CliError> {
    result.map_err(|e| CliError::Server(e.to_string()))
}

/// Prints a failed answer (code, message, located diagnostics) and returns its status:
/// refused policy input is exit 1, anything else (auth, server) exit 2.
fn failure(r: &ApiResponse, format: Format) -> Result<Status, CliError> {
    if format == Format::Json {
        println!("{}", r.body);
    } else {
        eprintln!(
            "error [{}]: {}",
            r.code(),
            r.body["message"].as_str().unwrap_or_default()
        );
        for d in r.body["diagnostics"].as_array().into_iter().flatten() {
            let loc = &d["location"];
            eprintln!(
                "  {}:{}:{}: {}",
                loc["file"].as_str().unwrap_or("?"),
                loc["line"],
                loc["column"],
                d["message"].as_str().unwrap_or_default()
            );
        }
        for case in r.body["report"]["cases"].as_array().into_iter().flatten() {
            if case["passed"] == false {
                eprintln!(
                    "  failing test: {} ({}): expected {}, got {}",
                    case["name"].as_str().unwrap_or_default(),
                    case["request"].as_str().unwrap_or_default(),
                    case["expected"].as_str().unwrap_or_default(),
                    case["got"].as_str().unwrap_or_default()
                );
            }
        }
    }
    match r.code() {
        "invalid_bundle" | "tests_failed" | "conflict" => Ok(Status::Problems),
        code => Err(CliError::Server(format!(
            "server answered {} ({code})",
            r.status
        ))),
    }
}

fn version_line(v: &Value) -> String {
    format!(
        "v{} {} by {} at {}: {}",
        v["number"],
        v["digest"].as_str().unwrap_or_default(),
        v["author"].as_str().unwrap_or_default(),
        v["created_at"].as_str().unwrap_or_default(),
        v["message"].as_str().unwrap_or_default()
    )
}

pub fn deploy(
    api: &ApiClient,
    dir: &Path,
    message: &str,
    activate: bool,
    format: Format,
) -> Result<Status, CliError> {
    // Check locally first: the same validation the server runs, with source snippets.
    let bundle = match load_or_report(dir, format)? {
        Ok(b) => b,
        Err(status) => return Ok(status),
    };
    let r = call(api.post(
        "/v1/admin/deploy",
        &json!({"files": bundle.files(), "message": message, "activate": activate}),
    ))?;
    if !r.ok() {
        return failure(&r, format);
    }
    match format {
        Format::Json => println!("{}", r.body),
        Format::Text => println!(
            "{} {} ({} tests passed)",
            if r.body["activated"] == true {
                "deployed and activated"
            } else {
                "stored (not active)"
            },
            version_line(&r.body["version"]),
            r.body["tests"]["passed"]
        ),
    }
    Ok(Status::Ok)
}

pub fn activate(
    api: &ApiClient,
    digest: Option<&str>,
    rollback: bool,
    format: Format,
) -> Result<Status, CliError> {
    let r = if rollback {
        call(api.post("/v1/admin/rollback", &json!({ "to": digest })))?
    } else {
        call(api.post("/v1/admin/activate", &json!({ "digest": digest })))?
    };
    if !r.ok() {
        return failure(&r, format);
    }
    match format {
        Format::Json => println!("{}", r.body),
        Format::Text => println!("active: {}", version_line(&r.body)),
    }
    Ok(Status::Ok)
}

pub fn history(api: &ApiClient, format: Format) -> Result<Status, CliError> {
    let r = call(api.get("/v1/admin/history"))?;
    if !r.ok() {
        return failure(&r, format);
    }
    if format == Format::Json {
        println!("{}", to_json(&r.body));
        return Ok(Status::Ok);
    }
    let active = r.body["active"]["digest"].as_str().unwrap_or_default();
    println!("versions:");
    for v in r.body["versions"].as_array().into_iter().flatten() {
        let marker = if v["digest"] == active { "*" } else { " " };
        println!(" {marker} {}", version_line(v));
    }
    println!("activations:");
    for a in r.body["activations"].as_array().into_iter().flatten() {
        println!(
            "   #{} {} {} by {} at {}",
            a["seq"],
            a["kind"].as_str().unwrap_or_default(),
            a["digest"].as_str().unwrap_or_default(),
            a["actor"].as_str().unwrap_or_default(),
            a["at"].as_str().unwrap_or_default()
        );
    }
    Ok(Status::Ok)
}
