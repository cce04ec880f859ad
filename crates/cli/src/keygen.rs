//! `confidant keygen`: a supporter's X25519 key pair, and by default an ML-KEM-768 key pair
//! beside it (the hybrid post-quantum handshake), made on their own device.

use confidant_client::credential_files::{
    KEY_REQUEST_LABEL, KEY_REQUEST_MLKEM_LABEL, encode_labelled,
};
use confidant_crypto::{MlKemSecret, SupporterSecret, encode_supporter_key_file};

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
    let mlkem = if args.x25519_only {
        None
    } else {
        Some(
            MlKemSecret::generate()
                .map_err(|e| CliError::Invalid(format!("cannot generate a key: {e}")))?,
        )
    };
    write_secret(
        &args.out,
        &encode_supporter_key_file(&secret, mlkem.as_ref()),
    )?;
    let public = secret.public();
    let request = match &mlkem {
        Some(kem) => encode_labelled(KEY_REQUEST_MLKEM_LABEL, &[&public, &kem.public()]),
        None => encode_labelled(KEY_REQUEST_LABEL, &[&public]),
    };
    write_public_new(&request_path, &request)?;
    println!(
        "Secret key written to {} (mode 0600). It never leaves this device.",
        args.out.display()
    );
    println!(
        "Key request written to {}; send it (or this public key) to your program administrator:",
        request_path.display()
    );
    println!("{}", confidant_crypto::hex::encode(&public));
    if mlkem.is_some() {
        println!(
            "The key includes an ML-KEM-768 key: seekers' chats with you will use the hybrid \
             post-quantum handshake (send the request file, not only the hex key above)."
        );
    }
    Ok(())
}
