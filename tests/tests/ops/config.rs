//! The real binary's configuration, hardening and `--dev` mode: bad settings refused
//! before listening with the key named; file < environment < flags; core dumps off and not
//! dumpable; the demo peer, the test-credential directory and the dev wait limit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use confidant_crypto::SignedBody as _;
use std::time::Duration;

use confidant_proto::{NoPeerReason, RelayFrame, SeekPreferences};
use confidant_tests::ProgramFixture;
use confidant_tests::ops_support::{
    RelayProcess, dev_credential, peer_at, run_to_exit, seeker_at, write_config,
};

const PROGRAM: &str = "resident-peer-support";

fn config_text(root_key: &str) -> String {
    format!(
        r#"
[[programs]]
id = "{PROGRAM}"
name = "Test"
root_key = "{root_key}"
"#
    )
}

#[test]
fn bad_root_key_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.toml");
    std::fs::write(&path, config_text("abc123")).unwrap();
    let (status, output) = run_to_exit(&["--config", path.to_str().unwrap()], &[]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("programs[0].root_key: not 64 hex characters"),
        "{output}"
    );
    assert!(!output.contains("listening on"), "{output}");
}

#[test]
fn other_bad_settings_name_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = "ab".repeat(32);
    let cases = [
        (format!("{}\nsurprise = 1\n", config_text(&key)), "surprise"),
        (
            format!("listen = \"nowhere\"\n{}", config_text(&key)),
            "listen: \"nowhere\" is not an address",
        ),
        (
            format!("[limits]\nmax_queue = 0\n{}", config_text(&key)),
            "limits.max_queue: must be greater than 0",
        ),
        (
            format!("[limits]\nread_buffer_bytes = 100\n{}", config_text(&key)),
            "limits.read_buffer_bytes: must be between 1024 and 65536",
        ),
        (
            config_text(&key).replace(PROGRAM, "Bad Id"),
            "programs[0].id:",
        ),
        (
            format!(
                "{}revocation_list = \"{}/missing.list\"\n",
                config_text(&key),
                dir.path().display()
            ),
            "programs[0].revocation_list: cannot read",
        ),
        (String::new(), "programs: no program configured"),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("relay.toml");
        std::fs::write(&path, &text).unwrap();
        let (status, output) = run_to_exit(&["--config", path.to_str().unwrap()], &[]);
        assert_eq!(status.code(), Some(2), "{text}\n{output}");
        assert!(
            output.contains(expected),
            "expected {expected:?} for\n{text}\ngot\n{output}"
        );
    }
    // A flag's bad value is refused too, and the environment's.
    let (status, output) = run_to_exit(&["--dev", "--listen", "nope"], &[]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("listen"), "{output}");
    let (status, output) = run_to_exit(&["--dev"], &[("CONFIDANT_LOG_LEVEL", "loud")]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("log_level"), "{output}");
    let (status, output) = run_to_exit(&["--dev"], &[("CONFIDANT_READ_BUFFER_BYTES", "100000")]);
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(output.contains("limits.read_buffer_bytes"), "{output}");
}

#[tokio::test]
async fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = ProgramFixture::new(PROGRAM);
    let config = write_config(
        dir.path(),
        &fixture,
        "log_format = \"json\"\nlog_level = \"info\"",
        "Counselling line",
    );
    let config = config.to_str().unwrap();
    let is_json = |logs: &str| {
        let first = logs.lines().find(|l| l.contains("relay_started")).unwrap();
        first.trim_start().starts_with('{')
    };
    // File alone: JSON; and the program (with its resources) is served.
    let relay = RelayProcess::start(&["--config", config], &[]);
    relay
        .wait_output("relay_started", Duration::from_secs(5))
        .await;
    assert!(is_json(&relay.logs.text()), "{}", relay.logs.text());
    let (status, body) = relay.public_get("/v1/programs").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Ops test program") && body.contains("Counselling line"),
        "{body}"
    );
    drop(relay);
    // Environment beats the file.
    let relay = RelayProcess::start(&["--config", config], &[("CONFIDANT_LOG_FORMAT", "text")]);
    relay
        .wait_output("relay_started", Duration::from_secs(5))
        .await;
    assert!(!is_json(&relay.logs.text()), "{}", relay.logs.text());
    drop(relay);
    // A flag beats the environment.
    let relay = RelayProcess::start(
        &["--config", config, "--log-format", "json"],
        &[
            ("CONFIDANT_CONFIG", "/nonexistent"),
            ("CONFIDANT_LOG_FORMAT", "text"),
        ],
    );
    relay
        .wait_output("relay_started", Duration::from_secs(5))
        .await;
    assert!(is_json(&relay.logs.text()), "{}", relay.logs.text());
}

#[tokio::test]
async fn root_key_from_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = ProgramFixture::new(PROGRAM);
    let key_file = dir.path().join("root.pub");
    std::fs::write(
        &key_file,
        confidant_crypto::keys::encode_root_public_key_file(&fixture.root().public()),
    )
    .unwrap();
    let config = write_config(dir.path(), &fixture, "", "Line");
    let text = std::fs::read_to_string(&config).unwrap();
    let hex = confidant_tests::ops_support::hex(&fixture.root().public());
    std::fs::write(&config, text.replace(&hex, key_file.to_str().unwrap())).unwrap();
    let relay = RelayProcess::start(&["--config", config.to_str().unwrap()], &[]);
    let (_, body) = relay.public_get("/v1/programs").await;
    assert!(body.contains(&hex), "{body}");
}

#[tokio::test]
async fn process_is_hardened() {
    let relay = RelayProcess::start(&["--dev", "--dev-no-demo-peer"], &[]);
    relay
        .wait_output("process hardening applied", Duration::from_secs(5))
        .await;
    let pid = relay.pid();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let numbers: Vec<&str> = core.split_whitespace().skip(4).take(2).collect();
    assert_eq!(numbers, ["0", "0"], "{core}");
    let logs = relay.logs.text();
    assert!(logs.contains("not_dumpable=true"), "{logs}");
    // Not dumpable: /proc/<pid>/environ and mem become root-owned, so an unprivileged
    // same-user process can no longer read them.
    let environ = std::fs::metadata(format!("/proc/{pid}/environ")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&environ), 0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    if logs.contains("memory_locked=true") {
        let locked = status.lines().find(|l| l.starts_with("VmLck:")).unwrap();
        let kb: u64 = locked.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(kb > 0, "{locked}");
    } else {
        assert!(logs.contains("memory not locked"), "{logs}");
    }
    if rustix::process::geteuid().is_root() {
        assert!(logs.contains("RUNNING AS ROOT"), "{logs}");
    }
}

#[tokio::test]
async fn dev_mode_banner_credentials_and_wait_limit() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(
        &[
            "--dev",
            "--dev-no-demo-peer",
            "--dev-wait-limit",
            "1",
            "--dev-peer-credential-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    let banner = relay.output.text();
    // The command to try it is the `confidant` beside this binary (or `confidant` from
    // PATH), never a `cargo run` a user of the binary has no source tree for.
    assert!(!banner.contains("cargo run"), "{banner}");
    let beside = confidant_tests::ops_support::relay_binary().with_file_name("confidant");
    let cli = if beside.is_file() {
        beside.display().to_string()
    } else {
        "confidant".to_owned()
    };
    assert!(
        banner.contains(&format!(
            "in a terminal: {cli} seek --program {PROGRAM} --trust-relay-root-key --relay {}",
            relay.ws_url()
        )),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("http://{}/", relay.addr)),
        "{banner}"
    );
    // No peer online: the seeker hears no_peer (wait limit 1 s, or none online at once).
    let mut seeker = seeker_at(&relay.ws_url(), PROGRAM).await;
    seeker
        .send(&confidant_proto::ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        })
        .await;
    loop {
        match seeker.frame().await {
            RelayFrame::Queued { .. } => {}
            RelayFrame::NoPeer { reason, .. } => {
                assert!(matches!(
                    reason,
                    NoPeerReason::WaitLimit | NoPeerReason::NoneOnline
                ));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // The written credential logs in as a peer of the dev program.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("program"))
            .unwrap()
            .trim(),
        PROGRAM
    );
    let credential = dev_credential(dir.path());
    let mut peer = peer_at(&relay.ws_url(), PROGRAM, &credential).await;
    peer.available(1, true).await;
    let mut seeker = seeker_at(&relay.ws_url(), PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    seeker.matched().await;
}

#[tokio::test]
async fn dev_mode_demo_peer_answers() {
    let relay = RelayProcess::start(&["--dev"], &[]);
    let mut seeker = seeker_at(&relay.ws_url(), PROGRAM).await;
    seeker.seek(SeekPreferences::default()).await;
    // The demo peer auto-accepts; its certificate says it is not a real person.
    let RelayFrame::Matched { credential, .. } = seeker.frame_skipping_queued().await else {
        panic!("expected matched");
    };
    let certificate = confidant_crypto::SupporterCertificate::decode_unverified(
        credential.supporter_certificate.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        certificate.display_name,
        confidant_client::DEMO_DISPLAY_NAME
    );
}
