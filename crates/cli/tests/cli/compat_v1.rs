//! Version 1 keeps working (`proto/spec.md`, "Versioning and growing the protocol"): the
//! frozen version-1 binaries — the CLI and relay of commit 8089439, the last before
//! features, built from git history by `scripts/check-compat` — chat through the new relay,
//! and the new CLI chats through the old relay (it offers features, is refused, and greets
//! again as version 1). Ignored unless `CONFIDANT_V1_BIN_DIR` names the frozen build, which
//! `scripts/check-compat` (part of `scripts/test`) sets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};

use confidant_tests::interactive::Interactive;
use confidant_tests::ops_support::RelayProcess;

fn new_cli() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_confidant"))
}

fn v1_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CONFIDANT_V1_BIN_DIR")
            .expect("CONFIDANT_V1_BIN_DIR: run scripts/check-compat, which builds the frozen v1"),
    )
}

/// A `--dev` relay (`binary`) without the demo peer, writing a test supporter into `dir`.
fn dev_relay(binary: &Path, dir: &Path) -> RelayProcess {
    let dir = dir.to_str().unwrap();
    RelayProcess::start_binary(
        binary,
        &[
            "--dev",
            "--dev-no-demo-peer",
            "--dev-peer-credential-dir",
            dir,
        ],
        &[],
    )
}

/// The `seeker_cli` seeks and chats with the `peer_cli`, both ways, and ends.
fn chat(seeker_cli: &Path, peer_cli: &Path, relay: &RelayProcess, dir: &Path) {
    let url = relay.ws_url();
    let program = std::fs::read_to_string(dir.join("program")).unwrap();
    let program = program.trim();
    let mut peer = Interactive::spawn(
        peer_cli,
        dir,
        &[
            "peer",
            "--relay",
            &url,
            "--program",
            program,
            "--key",
            "supporter.key",
            "--credential",
            "supporter.credential",
            "--revocation",
            "revocation.list",
            "--auto-accept",
        ],
    );
    peer.expect("[availability] Available");
    let mut seeker = Interactive::spawn(
        seeker_cli,
        dir,
        &[
            "seek",
            "--relay",
            &url,
            "--program",
            program,
            "--root-key",
            "root.pub",
        ],
    );
    seeker.expect("[matched]");
    seeker.say("hello across versions");
    let line = peer.expect("hello across versions");
    let chat = line
        .trim_start_matches("[chat ")
        .split(']')
        .next()
        .unwrap()
        .to_owned();
    peer.say(&format!("/to {chat} heard you"));
    seeker.expect("heard you");
    seeker.say("/end");
    seeker.expect("[chat ended] you ended the chat.");
    seeker.wait_success();
    peer.expect(&format!("[chat {chat} ended: the seeker ended it]"));
    peer.say("/quit");
    peer.wait_success();
}

#[test]
#[ignore = "needs the frozen version-1 build: scripts/check-compat"]
fn version_1_clients_chat_through_the_new_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = dev_relay(&confidant_tests::ops_support::relay_binary(), dir.path());
    let old = v1_dir().join("confidant");
    // A version-1 seeker with a version-1 peer, then each with a new partner.
    chat(&old, &old, &relay, dir.path());
    chat(&new_cli(), &old, &relay, dir.path());
    chat(&old, &new_cli(), &relay, dir.path());
}

#[test]
#[ignore = "needs the frozen version-1 build: scripts/check-compat"]
fn new_clients_chat_through_a_version_1_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = dev_relay(&v1_dir().join("confidant-relay"), dir.path());
    chat(&new_cli(), &new_cli(), &relay, dir.path());
}
