//! The relays the Kotlin tests of the mobile bindings (`scripts/check-kotlin`) need beyond
//! `confidant-relay --dev`: real relays on loopback with programs made on the spot, honest
//! and malicious, so the Kotlin seeker and peer meet a revoked supporter, a relay that swaps
//! the peer's certificate, and a `wss://` relay behind a private CA.
//!
//! `kotlin-fixtures DIR` writes into DIR (mode 0700, made by the caller):
//!
//! - `fixture.properties`, written last (by rename, so its presence means ready): the URLs
//!   and program ids and keys below, as `name=value` lines (java.util.Properties);
//! - per supporter NAME (`good`, `other-good`, `revoked`, `midchat`, `stale`): `NAME.key`
//!   (secret), `NAME.credential`, `NAME.list` (the revocation list it presents);
//! - `tls-ca.pem` (the TLS relay's own CA) and `other-ca.pem` (a CA that signed nothing).
//!
//! Relays and proxies (all `127.0.0.1:0`):
//!
//! - `relay_url`: an honest relay hosting `program` (whose list revokes `revoked`) and
//!   `stale_program` (whose relay-side list is the first one, revoking nothing);
//! - `swap_url`: a malicious relay in front of it that replaces the peer's certificate in
//!   `matched` with `other-good`'s — genuinely signed by the program, for a supporter who is
//!   not online;
//! - `rogue_url`: one that replaces the whole chain with a chain from a root the relay
//!   made itself for the same program id;
//! - `revoking_url`: one that matches `stale_program`'s supporter `stale` although the
//!   program's current list (which it passes on in `matched`) revokes them;
//! - `tls_url`: an honest relay with built-in TLS for `localhost` (`tls-ca.pem`), hosting
//!   `program`; `tls_ip_url` is the same relay addressed by IP (not the certificate's name).
//!
//! Creating the file `revoke-midchat` in DIR makes the program revoke `midchat` and both
//! honest relays apply the new list at once (what an operator's SIGHUP does); the fixture
//! renames the file to `revoke-midchat.done` when applied. Runs until killed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use confidant_client::credential_files::{
    CREDENTIAL_LABEL, REVOCATION_LIST_LABEL, encode_labelled,
};
use confidant_proto::RelayFrame;
use confidant_relay::RelayConfig;
use confidant_tests::sdk_support::{Direction, MitmProxy, Rewrite};
use confidant_tests::tls::write_self_signed;
use confidant_tests::{
    ProgramFixture, SupporterCredential, TestRelay, default_supporter_spec, test_limits,
};
use tokio_tungstenite::tungstenite::Message;

const PROGRAM: &str = "fixture-peer-support";
const STALE_PROGRAM: &str = "fixture-stale-support";

/// Rewrites the credential in every `matched` frame towards the client with `edit`.
fn edit_matched(
    edit: impl Fn(&mut confidant_proto::Credential) + Send + Sync + 'static,
) -> Rewrite {
    Arc::new(move |direction, message| {
        if direction == Direction::ToClient
            && let Message::Text(text) = &message
            && let Ok(RelayFrame::Matched {
                chat,
                mut credential,
                chat_features,
            }) = RelayFrame::from_json(text.as_bytes())
        {
            edit(&mut credential);
            let forged = RelayFrame::Matched {
                chat,
                credential,
                chat_features,
            };
            return vec![(direction, Message::text(forged.to_json()))];
        }
        vec![(direction, message)]
    })
}

fn supporter(fixture: &mut ProgramFixture, name: &str) -> SupporterCredential {
    fixture.supporter_with(confidant_tests::SupporterSpec {
        display_name: name.to_owned(),
        ..default_supporter_spec()
    })
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    file.write_all(text.as_bytes()).unwrap();
}

/// The three files a supporter's app holds, as `confidant keygen / admin sign / admin
/// revoke` write them.
fn write_supporter(dir: &Path, name: &str, credential: &SupporterCredential) {
    write_private(
        &dir.join(format!("{name}.key")),
        &credential.secret.to_key_file(),
    );
    write_private(
        &dir.join(format!("{name}.credential")),
        &encode_labelled(
            CREDENTIAL_LABEL,
            &[
                &credential.issuer_certificate,
                &credential.supporter_certificate,
            ],
        ),
    );
    write_private(
        &dir.join(format!("{name}.list")),
        &encode_labelled(REVOCATION_LIST_LABEL, &[&credential.revocation_list]),
    );
}

fn ws_url(addr: std::net::SocketAddr) -> String {
    format!("ws://{addr}{}", confidant_proto::limits::WEBSOCKET_PATH)
}

#[tokio::main]
async fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: kotlin-fixtures DIR"));

    // The program: good and midchat stay valid (until midchat is revoked on request),
    // other-good is valid but never online, revoked is revoked before the relay starts.
    let mut program = ProgramFixture::new(PROGRAM);
    let good = supporter(&mut program, "Dr. Good Peer");
    let other_good = supporter(&mut program, "Dr. Other Peer");
    let midchat = supporter(&mut program, "Dr. Midchat Peer");
    let mut revoked = supporter(&mut program, "Dr. Revoked Peer");
    let current = program.revoke(&[revoked.serial]);
    revoked.revocation_list.clone_from(&current);

    // The stale program: its relay holds the first list; the program has since revoked
    // `stale`, and the malicious relay passes that current list on while matching them.
    let mut stale_program = ProgramFixture::new(STALE_PROGRAM);
    let stale = supporter(&mut stale_program, "Dr. Stale Peer");
    let stale_config = stale_program.program_config();
    let stale_current = stale_program.revoke(&[stale.serial]);

    // A chain minted by a root the relay controls, for the same program id.
    let mut rogue_program = ProgramFixture::new(PROGRAM);
    let impostor = supporter(&mut rogue_program, "Dr. Good Peer");

    let mut config = RelayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![program.program_config(), stale_config],
    );
    config.limits = test_limits();
    let relay = TestRelay::start_with(config).await;

    // A self-signed certificate for `localhost`: its own CA, as a private PKI's would be.
    let tls = write_self_signed(&dir, "tls");
    write_private(&dir.join("tls-ca.pem"), &tls.pem);
    write_private(
        &dir.join("other-ca.pem"),
        &write_self_signed(&dir, "other").pem,
    );
    let mut tls_config = RelayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![program.program_config()],
    );
    tls_config.limits = test_limits();
    tls_config.tls = Some(tls.files);
    let tls_relay = TestRelay::start_with(tls_config).await;

    let swapped = other_good.supporter_certificate.clone();
    let swap = MitmProxy::start(
        relay.ws_url(),
        edit_matched(move |credential| credential.supporter_certificate.0.clone_from(&swapped)),
    )
    .await;
    let rogue = MitmProxy::start(
        relay.ws_url(),
        edit_matched(move |credential| {
            credential
                .issuer_certificate
                .0
                .clone_from(&impostor.issuer_certificate);
            credential
                .supporter_certificate
                .0
                .clone_from(&impostor.supporter_certificate);
            credential
                .revocation_list
                .0
                .clone_from(&impostor.revocation_list);
        }),
    )
    .await;
    let revoking = MitmProxy::start(
        relay.ws_url(),
        edit_matched(move |credential| credential.revocation_list.0.clone_from(&stale_current)),
    )
    .await;

    for (name, credential) in [
        ("good", &good),
        ("other-good", &other_good),
        ("midchat", &midchat),
        ("revoked", &revoked),
        ("stale", &stale),
    ] {
        write_supporter(&dir, name, credential);
    }
    let tls_port = tls_relay.addr.port();
    let properties = [
        ("program", PROGRAM.to_owned()),
        (
            "program_key",
            confidant_crypto::hex::encode(&program.root().public()),
        ),
        ("stale_program", STALE_PROGRAM.to_owned()),
        (
            "stale_program_key",
            confidant_crypto::hex::encode(&stale_program.root().public()),
        ),
        ("relay_url", relay.ws_url()),
        ("swap_url", ws_url(swap.addr)),
        ("rogue_url", ws_url(rogue.addr)),
        ("revoking_url", ws_url(revoking.addr)),
        ("tls_url", format!("wss://localhost:{tls_port}/v1/ws")),
        ("tls_ip_url", format!("wss://127.0.0.1:{tls_port}/v1/ws")),
    ]
    .map(|(name, value)| format!("{name}={value}\n"))
    .concat();
    write_private(&dir.join("fixture.properties.partial"), &properties);
    std::fs::rename(
        dir.join("fixture.properties.partial"),
        dir.join("fixture.properties"),
    )
    .unwrap();
    println!("kotlin-fixtures ready in {}", dir.display());

    // The operator revokes `midchat` when the test asks.
    let trigger = dir.join("revoke-midchat");
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if trigger.exists() {
            let list = program.revoke(&[revoked.serial, midchat.serial]);
            for honest in [&relay, &tls_relay] {
                honest
                    .handle()
                    .update_revocation_list(PROGRAM, &list)
                    .await
                    .expect("the relay takes the new list");
            }
            std::fs::rename(&trigger, dir.join("revoke-midchat.done")).unwrap();
            println!("kotlin-fixtures: revoked midchat");
        }
    }
}
