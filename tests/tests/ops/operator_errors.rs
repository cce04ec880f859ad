//! The operator's mistakes, against the real binary (issue 23): each is refused before the
//! relay listens with exit status 2, naming the setting and the file and saying what to do,
//! never with a library's enum — or, where the relay can still run, it says so in its log.
//! A failed TLS reload is counted as failed, and an unchanged certificate is not "reloaded".
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::Path;
use std::time::Duration;

use confidant_proto::{ErrorCode, RelayFrame, Role};
use confidant_tests::ops_support::{RelayProcess, hex, run_to_exit, write_config};
use confidant_tests::tls::{write_ca_as_leaf, write_self_signed};
use confidant_tests::{ProgramFixture, RawClient};
use rustix::process::Signal;

const PROGRAM: &str = "resident-peer-support";

/// What no operator-facing message may contain: raw library enums and parser jargon.
const RAW: &[&str] = &[
    "Other(",
    "KeyMismatch",
    "InconsistentKeys",
    "no items found",
    "CaUsedAsEndEntity",
];

/// Runs the binary on `args`, expects it to refuse with exit status 2 before listening, with
/// every one of `expected` in its output and nothing raw. Returns the output.
fn refused(args: &[&str], expected: &[&str]) -> String {
    let mut all = vec!["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let (status, output) = run_to_exit(&all, &[]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(!output.contains("listening on"), "{output}");
    for needle in expected {
        assert!(output.contains(needle), "expected {needle:?} in:\n{output}");
    }
    for raw in RAW {
        assert!(!output.contains(raw), "raw {raw:?} in:\n{output}");
    }
    output
}

/// Replaces `programs[0].root_key` in the config at `config` with `value`.
fn set_root_key(config: &Path, fixture: &ProgramFixture, value: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let replaced = text.replace(&hex(&fixture.root().public()), value);
    std::fs::write(config, replaced).unwrap();
}

fn fingerprint(key: &[u8; 32]) -> String {
    hex(&confidant_crypto::keys::key_id(key))
}

#[test]
fn a_wrong_root_key_is_named_not_the_revocation_list() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = ProgramFixture::new(PROGRAM);
    let other = ProgramFixture::new(PROGRAM);
    let config = write_config(dir.path(), &fixture, "", "Line");
    set_root_key(&config, &fixture, &hex(&other.root().public()));
    refused(
        &["--config", config.to_str().unwrap()],
        &[
            "programs[0].revocation_list:",
            &format!(
                "is not signed by the root key in programs[0].root_key (fingerprint {})",
                fingerprint(&other.root().public())
            ),
            "most likely root_key is not this program's root public key",
        ],
    );
}

#[test]
fn the_secret_root_key_file_is_refused_as_the_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = ProgramFixture::new(PROGRAM);
    let config = write_config(dir.path(), &fixture, "", "Line");
    let secret = dir.path().join("root.key");
    std::fs::write(&secret, fixture.root().to_key_file().as_str()).unwrap();
    set_root_key(&config, &fixture, secret.to_str().unwrap());
    let output = refused(
        &["--config", config.to_str().unwrap()],
        &[
            "programs[0].root_key:",
            "is the program's SECRET root key",
            "give the .pub file",
        ],
    );
    // The secret itself is never echoed.
    let body = fixture.root().to_key_file();
    let secret_line = body.lines().nth(1).unwrap();
    assert!(!output.contains(secret_line), "{output}");
}

/// With no revocation list to check the key against at start, a wrong root key used to
/// leave the relay refusing every peer with nothing in its log. Now the log names each
/// program's root-key fingerprint at start, and a credential that does not verify under
/// it is warned about (at most once a minute).
#[tokio::test]
async fn a_wrong_root_key_without_a_list_shows_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut fixture = ProgramFixture::new(PROGRAM);
    let other = ProgramFixture::new(PROGRAM);
    let config = dir.path().join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[[programs]]\nid = \"{PROGRAM}\"\nname = \"Test\"\nroot_key = \"{}\"\n",
            hex(&other.root().public())
        ),
    )
    .unwrap();
    let relay = RelayProcess::start(&["--config", config.to_str().unwrap()], &[]);
    relay
        .wait_output("program_root_key", Duration::from_secs(5))
        .await;
    let output = relay.output.text();
    let line = output
        .lines()
        .find(|l| l.contains("program_root_key"))
        .unwrap();
    assert!(
        line.contains(&fingerprint(&other.root().public())),
        "{output}"
    );
    assert!(line.contains(PROGRAM), "{output}");

    // A genuine supporter of the real program is refused...
    let credential = fixture.supporter();
    let mut peer = RawClient::connect_url(&relay.ws_url()).await;
    peer.hello(Role::Peer, PROGRAM).await;
    assert!(matches!(peer.frame().await, RelayFrame::Welcome { .. }));
    peer.send(&credential.present_frame()).await;
    peer.expect_fatal(ErrorCode::CredentialRejected).await;
    // ...and the log says why it may be the relay's configuration.
    relay
        .wait_output("credential_bad_signature", Duration::from_secs(5))
        .await;
    let output = relay.output.text();
    assert!(
        output.contains("the configured root_key is not the program's root public key"),
        "{output}"
    );
}

#[test]
fn tls_file_mistakes_name_the_setting_and_the_file_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = ProgramFixture::new(PROGRAM);
    let config = write_config(dir.path(), &fixture, "", "Line");
    let config = config.to_str().unwrap();
    let good = write_self_signed(dir.path(), "relay");
    let other = write_self_signed(dir.path(), "other");
    let cert = good.files.cert.to_str().unwrap();
    let key = good.files.key.to_str().unwrap();
    let other_key = other.files.key.to_str().unwrap();
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let with = |cert: &str, key: &str| -> Vec<String> {
        ["--config", config, "--tls-cert", cert, "--tls-key", key]
            .map(str::to_owned)
            .to_vec()
    };
    let run = |args: Vec<String>, expected: &[&str]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, expected)
    };
    // The key given as the certificate, and the other way round.
    run(
        with(key, key),
        &[
            &format!("tls.cert: {key}: holds a private key, not a certificate"),
            "are the two swapped?",
        ],
    );
    run(
        with(cert, cert),
        &[&format!(
            "tls.key: {cert}: holds a certificate, not a private key"
        )],
    );
    // A key that is not the certificate's: said once, naming both files.
    let output = run(
        with(cert, other_key),
        &[&format!(
            "tls.key: {other_key}: is not the private key of the certificate in tls.cert ({cert})"
        )],
    );
    assert_eq!(
        output.matches("is not the private key").count(),
        1,
        "{output}"
    );
    // A file that is not there.
    run(
        with(missing, key),
        &[&format!("tls.cert: {missing}: cannot read it")],
    );
    // A CA certificate served as the relay's own, which every client refuses.
    let ca = write_ca_as_leaf(dir.path(), "ca-as-leaf").files;
    let ca_cert = ca.cert.to_str().unwrap();
    run(
        with(ca_cert, ca.key.to_str().unwrap()),
        &[
            &format!("tls.cert: {ca_cert}:"),
            "is a CA certificate (basicConstraints CA:TRUE)",
            "basicConstraints CA:FALSE",
            "docs/operators.md#tls",
        ],
    );
}

fn reloads(metrics: &str, result: &str) -> u64 {
    let name = format!("confidant_reloads_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&name))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// Overwrites `to`'s pair with `from`'s files (key first, each through a rename).
fn copy_pair(from: &confidant_relay::TlsFiles, to: &confidant_relay::TlsFiles) {
    for (source, target) in [(&from.key, &to.key), (&from.cert, &to.cert)] {
        let partial = target.with_extension("partial");
        std::fs::copy(source, &partial).unwrap();
        std::fs::rename(&partial, target).unwrap();
    }
}

#[tokio::test]
async fn a_failed_tls_reload_counts_as_failed_and_an_unchanged_one_is_not_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = ProgramFixture::new(PROGRAM);
    let config = write_config(dir.path(), &fixture, "reload_interval_secs = 0", "Line");
    let served = write_self_signed(dir.path(), "relay").files;
    let next = write_self_signed(dir.path(), "next").files;
    let relay = RelayProcess::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--tls-cert",
            served.cert.to_str().unwrap(),
            "--tls-key",
            served.key.to_str().unwrap(),
        ],
        &[],
    );
    let count = |needle: &str| relay.output.text().matches(needle).count();

    // Nothing changed: a reload, but no certificate "reloaded".
    relay.signal(Signal::HUP);
    relay
        .wait_output("configuration reloaded", Duration::from_secs(5))
        .await;
    assert_eq!(
        count("TLS certificate reloaded"),
        0,
        "{}",
        relay.output.text()
    );

    // A new pair: reloaded, once.
    copy_pair(&next, &served);
    relay.signal(Signal::HUP);
    relay
        .wait_output("TLS certificate reloaded", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count("configuration reloaded"), 2);
    let (_, metrics) = relay.admin_get("/metrics").await;
    assert_eq!(
        (reloads(&metrics, "ok"), reloads(&metrics, "error")),
        (2, 0),
        "{metrics}"
    );

    // A key that does not fit the certificate: refused, counted as an error, not as ok, and
    // not announced as reloaded; the certificate in use stays.
    let stray = write_self_signed(dir.path(), "stray").files;
    let partial = served.key.with_extension("partial");
    std::fs::copy(&stray.key, &partial).unwrap();
    std::fs::rename(&partial, &served.key).unwrap();
    relay.signal(Signal::HUP);
    relay
        .wait_output("reload failed", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let output = relay.output.text();
    assert!(
        output.contains("tls.key:") && output.contains("is not the private key"),
        "{output}"
    );
    assert_eq!(count("configuration reloaded"), 2, "{output}");
    assert_eq!(count("TLS certificate reloaded"), 1, "{output}");
    let (_, metrics) = relay.admin_get("/metrics").await;
    assert_eq!(
        (reloads(&metrics, "ok"), reloads(&metrics, "error")),
        (2, 1),
        "{metrics}"
    );
    for raw in RAW {
        assert!(!output.contains(raw), "raw {raw:?} in:\n{output}");
    }
}

/// A port already taken stops the relay with exit status 2 (a configuration error: pick
/// another port), naming the setting and saying so; it used to exit 1.
#[test]
fn a_busy_port_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = ProgramFixture::new(PROGRAM);
    let config = write_config(dir.path(), &fixture, "", "Line");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    for (flag, other, hint) in [
        ("--listen", "--admin-listen", "choose another with --listen"),
        (
            "--admin-listen",
            "--listen",
            "choose another with --admin-listen",
        ),
    ] {
        let args = [
            "--config",
            config.to_str().unwrap(),
            "--lock-memory",
            "false",
            flag,
            &busy,
            other,
            "127.0.0.1:0",
        ];
        let (status, output) = run_to_exit(&args, &[]);
        assert_eq!(status.code(), Some(2), "{flag}: {output}");
        let key = flag.trim_start_matches("--").replace('-', "_");
        assert!(
            output.contains(&format!("{key}: cannot listen on {busy}")) && output.contains(hint),
            "{flag}: {output}"
        );
    }
}
