//! Where a seeker's pinned root key comes from: the user (hex or a file), or — for the
//! demo only, loudly — the relay.

use std::path::Path;
use std::time::Duration;

use confidant_client::{TlsTrust, fetch_programs, parse_root_key};
use confidant_crypto::keys::decode_root_public_key_file;

use crate::cli_error::CliError;
use crate::files::read_text;

/// `--root-key` as 64 hex digits, a file of hex, or a `root.pub` file.
pub(crate) fn from_argument(value: &str) -> Result<[u8; 32], CliError> {
    if let Ok(key) = parse_root_key(value) {
        return Ok(key);
    }
    let path = Path::new(value);
    if !path.exists() {
        return Err(CliError::Invalid(format!(
            "--root-key: not 64 hex digits, and no file named {value}"
        )));
    }
    let text = read_text(path)?;
    if let Ok(key) = parse_root_key(&text) {
        return Ok(key);
    }
    decode_root_public_key_file(&text).map_err(|error| CliError::Key {
        path: path.to_owned(),
        expected: "root public key (64 hex digits or a root.pub file)",
        error,
    })
}

/// DEMO ONLY: the root key the relay publishes for `program`.
pub(crate) async fn from_relay(
    relay: &str,
    tls: &TlsTrust,
    program: &str,
) -> Result<[u8; 32], CliError> {
    eprintln!("!!! WARNING: --trust-relay-root-key takes the program's root key from the relay.");
    eprintln!("!!! A relay that lies could then impersonate any peer supporter.");
    eprintln!("!!! This is for trying the demo only; real use pins the key with --root-key.");
    let programs = fetch_programs(relay, tls, Duration::from_secs(10)).await?;
    let info = programs
        .into_iter()
        .find(|p| p.id == program)
        .ok_or_else(|| {
            CliError::Invalid(format!("the relay does not host a program {program:?}"))
        })?;
    Ok(parse_root_key(&info.root_key)?)
}
