//! The interactive `confidant seek` and `confidant peer` commands against the real relay,
//! with credentials made by `confidant admin` — the whole command line, end to end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::process::{Command, Stdio};

use super::admin::ok as admin;
use std::time::Duration;

use confidant_client::credential_files::{REVOCATION_LIST_LABEL, decode_single};
use confidant_proto::Resource;
use confidant_relay::{ProgramConfig, RelayConfig};
use confidant_tests::interactive::Interactive;
use confidant_tests::tls::write_self_signed;
use confidant_tests::{TestRelay, test_limits};

const PROGRAM: &str = "resident-peer-support";

/// The `confidant` binary under test.
fn confidant() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_confidant"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_made_credentials_seek_and_peer_chat_through_the_cli() {
    chat_through_the_cli(false).await;
}

/// The same session against a relay serving `wss://` with a certificate from a private CA:
/// `--ca-file` on both commands, and the demo's program list fetched over `https://` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_chats_over_wss_trusting_a_private_ca() {
    chat_through_the_cli(true).await;
}

async fn chat_through_the_cli(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let root_hex = admin(dir, &["admin", "init", "--out", "root.key"])
        .lines()
        .last()
        .unwrap()
        .to_owned();
    admin(
        dir,
        &[
            "admin",
            "issue",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--out",
            "issuer.key",
        ],
    );
    admin(dir, &["keygen", "--out", "supporter.key"]);
    admin(
        dir,
        &[
            "admin",
            "sign",
            "--issuer",
            "issuer.key",
            "--request",
            "supporter.request",
            "--name",
            "Dr. Example",
            "--role",
            "resident",
            "--department",
            "Surgery",
            "--topics",
            "burnout",
            "--serial",
            "1",
            "--out",
            "supporter.cred",
        ],
    );
    admin(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--list",
            "revocation.list",
        ],
    );
    let list = decode_single(
        REVOCATION_LIST_LABEL,
        &std::fs::read_to_string(dir.join("revocation.list")).unwrap(),
    )
    .unwrap();
    let mut config = RelayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![ProgramConfig {
            id: PROGRAM.into(),
            name: "Resident Peer Support Program".into(),
            root_public_key: confidant_client::parse_root_key(&root_hex).unwrap(),
            topics: vec!["burnout".into()],
            languages: vec!["en".into()],
            peer_roles: vec!["resident".into()],
            resources: vec![Resource {
                title: "Faculty Wellness Program — counselling".into(),
                url: None,
                phone: Some("613-562-5211".into()),
                email: None,
            }],
            wait_limit: Duration::from_secs(60),
            revocation_list: list,
            details: confidant_relay::ProgramDetails::default(),
        }],
    );
    config.limits = test_limits();
    config.tls = tls.then(|| write_self_signed(dir, "relay-ca").files);
    let relay = TestRelay::start_with(config).await;
    let (url, trust): (String, &[&str]) = if tls {
        let url = format!("wss://localhost:{}/v1/ws", relay.addr.port());
        (url, &["--ca-file", "relay-ca.pem"])
    } else {
        (relay.ws_url(), &[])
    };

    let peer_args = [
        &[
            "peer",
            "--relay",
            &url,
            "--program",
            PROGRAM,
            "--key",
            "supporter.key",
            "--credential",
            "supporter.cred",
            "--revocation",
            "revocation.list",
            "--capacity",
            "2",
            "--auto-accept",
        ],
        trust,
    ]
    .concat();
    let mut peer = Interactive::spawn(confidant(), dir, &peer_args);
    peer.expect("Verified as \"Dr. Example\"");
    peer.expect("[availability] Available");

    let mut seeker = Interactive::spawn(
        confidant(),
        dir,
        &[
            &[
                "seek",
                "--relay",
                &url,
                "--program",
                PROGRAM,
                "--root-key",
                &root_hex,
                "--topic",
                "burnout",
            ],
            trust,
        ]
        .concat(),
    );
    // Help is in sight before anything else: this program configures no emergency entry,
    // so the fallback every client gives.
    seeker.expect("In an emergency, call your local emergency number.");
    seeker.expect("[matched] Dr. Example — resident, Surgery");
    seeker.say("hello from the seeker");
    let line = peer.expect("hello from the seeker");
    let chat = line
        .trim_start_matches("[chat ")
        .split(']')
        .next()
        .unwrap()
        .to_owned();
    peer.say(&format!("/to {chat} hi from the peer"));
    seeker.expect("hi from the peer");
    peer.expect("read 1 message(s)");
    peer.say(&format!("/resource {chat} 1"));
    seeker.expect("[resource] Faculty Wellness Program — counselling — 613-562-5211");
    seeker.say("/end");
    seeker.expect("[chat ended] you ended the chat.");
    seeker.wait_success();
    peer.expect(&format!("[chat {chat} ended: the seeker ended it]"));

    // The demo path: the root key taken from the relay, with a loud warning.
    let mut demo = Interactive::spawn(
        confidant(),
        dir,
        &[
            &[
                "seek",
                "--relay",
                &url,
                "--program",
                PROGRAM,
                "--trust-relay-root-key",
            ],
            trust,
        ]
        .concat(),
    );
    demo.expect("[matched] Dr. Example");
    let warned = std::iter::from_fn(|| demo.stderr.recv_timeout(Duration::from_secs(5)).ok())
        .any(|line| line.contains("WARNING"));
    assert!(warned, "--trust-relay-root-key must warn loudly");
    demo.say("/quit");
    demo.wait_success();
    peer.say("/quit");
    peer.wait_success();

    // The program revokes the supporter; their next login (presenting the new list, as a
    // supporter's device would have it) is refused with words that say so.
    admin(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--serial",
            "1",
            "--list",
            "revocation.list",
        ],
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_confidant"))
        .current_dir(dir)
        .args(&peer_args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("your credential has been revoked by your program (credential_revoked)"),
        "{stderr}"
    );
}

/// `seek --help` (and `peer --help`) tell a private-CA user what the relay's certificate
/// must be, before they meet the refusal.
#[test]
fn ca_file_help_names_the_leaf_certificate_requirement() {
    for command in ["seek", "peer"] {
        let dir = tempfile::tempdir().unwrap();
        let help = admin(dir.path(), &[command, "--help"]);
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains("leaf certificate issued by that CA (basicConstraints CA:FALSE)"),
            "{command}: {help}"
        );
    }
}

/// A seeker alone in the queue with no peer online is told so at once, with where to turn,
/// and may keep waiting: the peer that comes online takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeker_with_no_peer_online_is_told_at_once_with_resources() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut fixture = confidant_tests::ProgramFixture::new(PROGRAM);
    let relay = TestRelay::start(vec![fixture.program_config()], test_limits()).await;
    std::fs::write(
        dir.join("root.pub"),
        confidant_crypto::keys::encode_root_public_key_file(&fixture.root().public()),
    )
    .unwrap();
    let url = relay.ws_url();
    let mut seeker = Interactive::spawn(
        confidant(),
        dir,
        &[
            "seek",
            "--relay",
            &url,
            "--program",
            PROGRAM,
            "--root-key",
            "root.pub",
        ],
    );
    seeker.expect("In an emergency, call your local emergency number.");
    seeker.expect("[queue] No peer is available right now.");
    seeker.expect("Faculty Wellness Program — counselling — 613-562-5211");
    let credential = fixture.supporter();
    let mut peer = confidant_client::Peer::connect(
        &url,
        PROGRAM,
        credential.peer_credential(),
        confidant_client::PeerOptions::default(),
    )
    .await
    .unwrap();
    confidant_tests::sdk_support::go_available(&mut peer, 1, true).await;
    seeker.expect("[matched]");
}
