//! `sesame jwt keygen | jwks | mint`: development keys and tokens for firm users' sessions, in
//! place of the embedding application's identity provider (demos, tests, local runs).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use host_server::server::identity::dev;

use super::{json, read_text, CliError, Status};

/// The key id written into the JWKS and every minted header.
const KID: &str = "sesame-dev";

fn dev_error(e: dev::DevKeyError) -> CliError {
    CliError::Usage(e.to_string())
}

/// Writes a new Ed25519 private key (PKCS#8 PEM, mode 0600) to `out`; never overwrites one.
pub fn keygen(out: &Path) -> Result<Status, CliError> {
    if out.exists() {
        return Err(CliError::Usage(format!(
            "{} exists already; remove it to make a new key",
            out.display()
        )));
    }
    std::fs::write(out, dev::keygen().map_err(dev_error)?)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(Status::Ok)
}

/// Prints the public JWKS of a private key: what `sesame serve --jwt-jwks` reads.
pub fn jwks(key: &Path) -> Result<Status, CliError> {
    let pem = read_text(&key.to_path_buf())?;
    println!("{}", json(&dev::jwks(&pem, KID).map_err(dev_error)?));
    Ok(Status::Ok)
}

/// Prints a token for `subject` in `tenant`, valid for `ttl_s` seconds.
pub struct MintArgs<'a> {
    pub key: &'a Path,
    pub subject: &'a str,
    pub tenant: &'a str,
    pub tenant_claim: &'a str,
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub ttl_s: u64,
}

pub fn mint(args: &MintArgs<'_>) -> Result<Status, CliError> {
    let pem = read_text(&args.key.to_path_buf())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut claims = serde_json::json!({
        "sub": args.subject,
        "iat": now,
        "exp": now + args.ttl_s,
    });
    claims[args.tenant_claim] = args.tenant.into();
    if let Some(iss) = args.issuer {
        claims["iss"] = iss.into();
    }
    if let Some(aud) = args.audience {
        claims["aud"] = aud.into();
    }
    println!("{}", dev::mint(&pem, KID, &claims).map_err(dev_error)?);
    Ok(Status::Ok)
}
