//! `confidant keygen`: a supporter's X25519 key pair, made on their own device.

use confidant_client::credential_files::{KEY_REQUEST_LABEL, encode_labelled};
use confidant_crypto::SupporterSecret;

use crate::args::KeygenArgs;
use crate::cli_error::CliError;
use crate::files::{sibling, write_public_new, write_secret};

pub(crate) fn run(args: &KeygenArgs) -> Result<(), CliError> {
    let request_path = args
        .request_out
        .clone()
        .unwrap_or_else(|| sibling(&args.out, "request"));
    // Check both before writing either, so a refusal leaves nothing half-done.
    for path in [&args.out, &request_path] {
        if path.exists() {
            return Err(CliError::AlreadyExists(path.clone()));
        }
    }
    let secret = SupporterSecret::generate()
        .map_err(|e| CliError::Invalid(format!("cannot generate a key: {e}")))?;
    write_secret(&args.out, &secret.to_key_file())?;
    let public = secret.public();
    write_public_new(
        &request_path,
        &encode_labelled(KEY_REQUEST_LABEL, &[&public]),
    )?;
    println!(
        "Secret key written to {} (mode 0600). It never leaves this device.",
        args.out.display()
    );
    println!(
        "Key request written to {}; send it (or this public key) to your program administrator:",
        request_path.display()
    );
    println!("{}", confidant_crypto::hex::encode(&public));
    Ok(())
}
