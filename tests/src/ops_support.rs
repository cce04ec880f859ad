//! Operating the real `confidant-relay` binary: build and locate it, start it with a
//! config, flags and environment, read what it prints, signal it, scrape its admin port.
//!
//! Locating the binary: the relay is another package, so Cargo's `CARGO_BIN_EXE_*` is not
//! available here. [`relay_binary`] runs `cargo build -p confidant-relay-bin --bin
//! confidant-relay` once per test process (same profile as the tests; Cargo makes it a
//! no-op when up to date) and takes the executable from the directory the test binary
//! itself lives in (`target/<profile>/deps/..`), which follows `CARGO_TARGET_DIR` and
//! `--release` without guessing. `CONFIDANT_RELAY_BIN` overrides all of it.

pub use confidant_crypto::hex::encode as hex;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use confidant_proto::{ClientFrame, RelayFrame, Role};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::client::RawClient;
use crate::fixtures::{ProgramFixture, SupporterCredential};

/// Longest wait for the binary to start (it may be built first).
pub const START_WAIT: Duration = Duration::from_secs(30);

/// The relay executable, built if needed.
pub fn relay_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("CONFIDANT_RELAY_BIN") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary inside target/<profile>/deps")
            .to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "-p",
            "confidant-relay-bin",
            "--bin",
            "confidant-relay",
        ]);
        if release {
            build.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target_dir);
        }
        // What `cargo test` sets for the test binary itself (its manifest, package, crate)
        // must not reach the nested build: with it, Cargo saw a changed environment and
        // rebuilt ring, rustls and the relay on every run (about 15 s per test binary).
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
            ]
            .iter()
            .any(|prefix| key_text.starts_with(prefix))
                || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"]
                    .contains(&key_text.as_ref())
            {
                build.env_remove(&key);
            }
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building confidant-relay failed");
        let bin = profile_dir.join("confidant-relay");
        assert!(bin.exists(), "no binary at {}", bin.display());
        bin
    })
    .clone()
}

/// Everything the process printed so far, stdout and stderr interleaved by line.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<String>>);

impl Output {
    /// A copy of the text.
    pub fn text(&self) -> String {
        self.0.lock().expect("output lock").clone()
    }

    fn push(&self, line: &str) {
        let mut text = self.0.lock().expect("output lock");
        text.push_str(line);
        text.push('\n');
    }
}

/// A running relay process; killed on drop.
pub struct RelayProcess {
    child: Child,
    /// Public address.
    pub addr: SocketAddr,
    /// Admin address.
    pub admin: SocketAddr,
    /// stdout + stderr.
    pub output: Output,
    /// stderr alone (the logs).
    pub logs: Output,
}

/// Spawns the binary and collects its output; does not wait for it to listen.
pub fn spawn_raw(args: &[&str], env: &[(&str, &str)]) -> (Child, Output, Output) {
    spawn_binary(&relay_binary(), args, env)
}

/// [`spawn_raw`] for another build of the relay (e.g. a frozen earlier version).
pub fn spawn_binary(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, Output, Output) {
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("CONFIDANT_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("spawn confidant-relay");
    let output = Output::default();
    let logs = Output::default();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out = output.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            out.push(&line);
        }
    });
    let (out, err) = (output.clone(), logs.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            out.push(&line);
            err.push(&line);
        }
    });
    (child, output, logs)
}

/// Runs the binary to completion (for configurations it must refuse); bounded.
pub fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let (mut child, output, _) = spawn_raw(args, env);
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            std::thread::sleep(Duration::from_millis(100));
            return (status, output.text());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("relay did not exit; output:\n{}", output.text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl RelayProcess {
    /// Starts the relay on loopback port 0 (public and admin) with `args`, waits until it
    /// says where it listens.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_binary(&relay_binary(), args, env)
    }

    /// [`Self::start`] for another build of the relay (e.g. a frozen earlier version).
    pub fn start_binary(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let (mut child, output, logs) = spawn_binary(binary, &all, env);
        let deadline = Instant::now() + START_WAIT;
        loop {
            let text = output.text();
            if let Some((addr, admin)) = parse_listening(&text) {
                return Self {
                    child,
                    addr,
                    admin,
                    output,
                    logs,
                };
            }
            if let Some(status) = child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(100));
                panic!("relay exited with {status}:\n{}", output.text());
            }
            assert!(Instant::now() < deadline, "relay did not start:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `ws://…/v1/ws`.
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.addr,
            confidant_proto::limits::WEBSOCKET_PATH
        )
    }

    /// This process as a [`crate::TestRelay`] with no handle (for the helpers that take
    /// one and only use its address).
    pub fn view(&self) -> crate::TestRelay {
        crate::TestRelay {
            handle: None,
            addr: self.addr,
        }
    }

    /// Sends a signal.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.pid()).expect("pid"))
            .expect("nonzero pid");
        rustix::process::kill_process(pid, signal).expect("send signal");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "relay did not exit in time:\n{}",
                self.output.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) until the output contains `needle`.
    pub async fn wait_output(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.output.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "output never contained {needle:?}:\n{}",
                self.output.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET path` on the admin port.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).await
    }

    /// `GET path` on the public port.
    pub async fn public_get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path).await
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_listening(text: &str) -> Option<(SocketAddr, SocketAddr)> {
    let line = text.lines().find(|l| l.contains("listening on "))?;
    let rest = line.split("listening on ").nth(1)?;
    let addr = rest.split_whitespace().next()?.parse().ok()?;
    let admin = rest
        .split("(admin ")
        .nth(1)?
        .split(|c: char| c == ')' || c.is_whitespace())
        .next()?
        .parse()
        .ok()?;
    Some((addr, admin))
}

/// A minimal HTTP/1.0 GET: status code and body. Bounded.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: relay\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        String::from_utf8(response).expect("utf-8 response")
    };
    let response = tokio::time::timeout(crate::WAIT, request)
        .await
        .expect("HTTP answer in time");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Writes the program's current revocation list in the CLI's file format.
pub fn write_revocation_list(path: &Path, list: &[u8]) {
    use confidant_client::credential_files::{REVOCATION_LIST_LABEL, encode_labelled};
    // Write then rename, as an operator's tooling should, so a reload never sees half a file.
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, encode_labelled(REVOCATION_LIST_LABEL, &[list])).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

/// A config file for one fixture program (its list at `dir/revocation.list`), plus
/// `extra` TOML appended verbatim (top-level keys must come before the tables, so `extra`
/// goes first). Returns the config path.
pub fn write_config(
    dir: &Path,
    fixture: &ProgramFixture,
    extra_top: &str,
    resource: &str,
) -> PathBuf {
    let list = dir.join("revocation.list");
    write_revocation_list(&list, &fixture.revocation_list);
    let config = format!(
        r#"{extra_top}
[[programs]]
id = "{id}"
name = "Ops test program"
root_key = "{root}"
revocation_list = "{list}"
topics = ["burnout", "litigation"]
languages = ["en", "fr"]
peer_roles = ["resident"]
wait_limit_secs = 60

[[programs.resources]]
title = "{resource}"
phone = "613-555-0100"
"#,
        id = fixture.id,
        root = hex(&fixture.root().public()),
        list = list.display(),
    );
    let path = dir.join("relay.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

/// Connects a peer to `url`: hello, present, prove, verified.
pub async fn peer_at(url: &str, program: &str, credential: &SupporterCredential) -> RawClient {
    let mut client = RawClient::connect_url(url).await;
    login_peer(&mut client, program, credential).await;
    client
}

/// Runs the peer login on an open connection.
pub async fn login_peer(client: &mut RawClient, program: &str, credential: &SupporterCredential) {
    client.hello(Role::Peer, program).await;
    let welcome = client.frame().await;
    assert!(matches!(welcome, RelayFrame::Welcome { .. }), "{welcome:?}");
    client.send(&credential.present_frame()).await;
    let RelayFrame::Challenge { challenge } = client.frame().await else {
        panic!("expected a challenge");
    };
    client
        .send(&ClientFrame::Prove {
            answer: credential.answer(challenge.as_bytes()).into(),
        })
        .await;
    let verified = client.frame().await;
    assert!(
        matches!(verified, RelayFrame::Verified { .. }),
        "{verified:?}"
    );
}

/// Connects a seeker to `url` and waits for `welcome`.
pub async fn seeker_at(url: &str, program: &str) -> RawClient {
    let mut client = RawClient::connect_url(url).await;
    client.hello(Role::Seeker, program).await;
    let welcome = client.frame().await;
    assert!(matches!(welcome, RelayFrame::Welcome { .. }), "{welcome:?}");
    client
}

/// Reads a credential written by `--dev-peer-credential-dir`.
pub fn dev_credential(dir: &Path) -> SupporterCredential {
    let credential = confidant_client::PeerCredential::from_files(
        &dir.join("supporter.key"),
        &dir.join("supporter.credential"),
        &dir.join("revocation.list"),
    )
    .expect("dev credential files");
    SupporterCredential {
        serial: 1_000,
        issuer_certificate: credential.issuer_certificate,
        supporter_certificate: credential.supporter_certificate,
        revocation_list: credential.revocation_list,
        secret: credential.secret,
        mlkem: credential.mlkem,
    }
}

/// Remote ports of connections established to `port` (the clients' source ports), from
/// `/proc/net/tcp` (loopback IPv4): what a log or a metric must never contain.
pub fn client_ports(port: u16) -> Vec<u16> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = u16::from_str_radix(fields.get(1)?.split(':').nth(1)?, 16).ok()?;
            let remote = u16::from_str_radix(fields.get(2)?.split(':').nth(1)?, 16).ok()?;
            (local == port && *fields.get(3)? == "01").then_some(remote)
        })
        .collect()
}

/// Whether `number` occurs in `text` as a whole number (not inside a longer one).
pub fn contains_number(text: &str, number: u16) -> bool {
    let needle = number.to_string();
    text.match_indices(&needle).any(|(at, _)| {
        let before = text.get(..at).and_then(|t| t.chars().next_back());
        let after = text.get(at + needle.len()..).and_then(|t| t.chars().next());
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}
