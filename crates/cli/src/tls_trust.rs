//! Whom `seek` and `peer` trust for a `wss://` relay's certificate: the public web roots, or
//! only the CA in `--ca-file` (a program's or hospital's private PKI).

use confidant_client::TlsTrust;

use crate::args::ConnectionArgs;
use crate::cli_error::CliError;
use crate::files::read_text;

/// The trust `--ca-file` asks for (default: the public web roots).
pub(crate) fn from_arguments(args: &ConnectionArgs) -> Result<TlsTrust, CliError> {
    let Some(path) = &args.ca_file else {
        return Ok(TlsTrust::public_roots());
    };
    let pem = read_text(path)?;
    TlsTrust::from_pem(pem.as_bytes())
        .map_err(|e| CliError::Invalid(format!("--ca-file {}: {e}", path.display())))
}
