//! `handshake`: the hybrid post-quantum handshake (X25519 + ML-KEM-768, `proto/crypto.md`
//! §2.1) against X25519 only, measured in the same run, alternating the two.
//!
//! * **Bytes**: what one chat's setup puts on the wire — msg1 and msg2, the supporter
//!   certificate, and the `matched` frame that carries it to the seeker (JSON, base64).
//! * **Handshakes/s (CPU)**: one core, in process, no network: the seeker's verification of
//!   the chain, its `start`, the peer's `respond`, the seeker's `finish` — everything a chat's
//!   setup costs the two clients. The relay does no chat cryptography, so this is where the
//!   hybrid handshake costs.
//! * **Sessions/s (relay)**: the `setup` scenario's complete sessions through the real relay
//!   over loopback (connect, seek, match, verify, handshake, first message and answer),
//!   with peers holding version-1 certificates, then version-2 (hybrid) ones.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use clap::Args;
use confidant_crypto::{PeerHandshake, SeekerHandshake, verify_chain};
use confidant_proto::{ChatNumber, RelayFrame};

use crate::fixtures::{Credential, Program, now_unix};
use crate::protocol::Target;
use crate::report::{self, Table};
use crate::scenarios::setup::{Peers, run_sessions};
use crate::server::{Kind, ServerProcess};
use crate::{Common, Result};

/// Options for `handshake`.
#[derive(Debug, Clone, Args)]
pub struct Opts {
    #[command(flatten)]
    pub(crate) common: Common,
    /// In-process handshakes per variant and run (CPU measurement).
    #[arg(long, default_value_t = 2_000)]
    pub(crate) handshakes: u64,
    /// Complete sessions through the relay per variant and run (0 skips the relay part).
    #[arg(long, default_value_t = 4_000)]
    pub(crate) sessions: u64,
    /// Sessions in flight at once.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
}

const VARIANTS: [(&str, bool); 2] = [
    ("X25519 only (NK)", false),
    ("hybrid (NKpsk2 + ML-KEM-768)", true),
];

/// Bytes of one setup: (msg1, msg2, supporter certificate, `matched` frame).
fn bytes_of(program: &Program, credential: &Credential) -> Result<[usize; 4]> {
    let (hs, msg1) = SeekerHandshake::start_for_certificate(
        &credential.secret.public(),
        credential
            .mlkem
            .as_ref()
            .map(confidant_crypto::MlKemSecret::public)
            .as_deref(),
        &credential.supporter_certificate,
        &[],
    )
    .map_err(|e| format!("start: {e:?}"))?;
    let (_, msg2) = credential.respond(&msg1)?;
    hs.finish(&msg2).map_err(|e| format!("finish: {e:?}"))?;
    let matched = RelayFrame::Matched {
        chat: ChatNumber(1),
        credential: confidant_proto::Credential {
            issuer_certificate: credential.issuer_certificate.clone().into(),
            supporter_certificate: credential.supporter_certificate.clone().into(),
            revocation_list: program.revocation_list.clone().into(),
        },
        chat_features: None,
    };
    Ok([
        msg1.len(),
        msg2.len(),
        credential.supporter_certificate.len(),
        matched.to_json().len(),
    ])
}

/// `count` complete handshakes as the two clients run them; returns handshakes/s.
fn cpu_rate(program: &Program, credential: &Credential, count: u64) -> Result<f64> {
    let started = Instant::now();
    for _ in 0..count {
        let verified = verify_chain(
            &program.root_public,
            &program.id,
            &credential.issuer_certificate,
            &credential.supporter_certificate,
            &program.revocation_list,
            now_unix(),
            0,
        )
        .map_err(|e| format!("verify: {e:?}"))?;
        let certificate = verified.certificate;
        let (hs, msg1) = SeekerHandshake::start_for_certificate(
            &certificate.x25519_public,
            certificate.mlkem768_public.as_deref(),
            &credential.supporter_certificate,
            &[],
        )
        .map_err(|e| format!("start: {e:?}"))?;
        let (_, msg2) = PeerHandshake::respond_for_certificate(
            &credential.secret,
            credential.mlkem.as_ref(),
            &credential.supporter_certificate,
            &[],
            &msg1,
        )
        .map_err(|e| format!("respond: {e:?}"))?;
        hs.finish(&msg2).map_err(|e| format!("finish: {e:?}"))?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Complete sessions/s through the relay with peers of this variant.
async fn relay_rate(opts: &Opts, hybrid: bool) -> Result<(f64, u64)> {
    let mut program = Program::new("bench-program")?;
    program.hybrid = hybrid;
    let server = ServerProcess::start(Kind::Relay, &[&program])?;
    let target = Arc::new(Target::new(
        server.addr,
        Kind::Relay,
        &mut program,
        opts.common.sources,
    )?);
    let peers = Peers::start(&target, &mut program, opts.concurrency).await?;
    let done = Arc::new(AtomicU64::new(0));
    let sessions = run_sessions(&target, opts.sessions, opts.concurrency, &done).await?;
    let failed = sessions.failed + peers.stop().await;
    drop(server);
    Ok((
        sessions.completed as f64 / sessions.elapsed.as_secs_f64(),
        failed,
    ))
}

/// One of the two handshakes, with what was measured for it.
struct Variant {
    name: &'static str,
    hybrid: bool,
    program: Program,
    credential: Credential,
    bytes: [usize; 4],
    cpu: Vec<f64>,
    relay: Vec<f64>,
}

/// Runs the tables.
pub(crate) async fn run(opts: &Opts) -> Result<()> {
    let mut variants = Vec::new();
    for (name, hybrid) in VARIANTS {
        let mut program = Program::new("bench-program")?;
        program.hybrid = hybrid;
        let credential = program.supporter()?;
        let bytes = bytes_of(&program, &credential)?;
        variants.push(Variant {
            name,
            hybrid,
            program,
            credential,
            bytes,
            cpu: Vec::new(),
            relay: Vec::new(),
        });
    }
    let mut failed = 0;
    for round in 0..opts.common.repeat.max(1) {
        for v in &mut variants {
            let rate = cpu_rate(&v.program, &v.credential, opts.handshakes)?;
            eprintln!("  handshake cpu {} run {round}: {rate:.0}/s", v.name);
            v.cpu.push(rate);
        }
        if opts.sessions > 0 {
            for v in &mut variants {
                let (rate, f) = relay_rate(opts, v.hybrid).await?;
                eprintln!(
                    "  handshake relay {} run {round}: {rate:.0} sessions/s ({f} failed)",
                    v.name
                );
                v.relay.push(rate);
                failed += f;
            }
        }
    }
    let mut table = Table::new(
        &format!(
            "handshake (hybrid against X25519 only, same run; medians of {} runs; CPU: {} handshakes on one core; relay: {} sessions, {} in flight)",
            opts.common.repeat.max(1),
            opts.handshakes,
            opts.sessions,
            opts.concurrency
        ),
        &[
            "handshake",
            "msg1 B",
            "msg2 B",
            "certificate B",
            "matched frame B",
            "handshakes/s (CPU)",
            "sessions/s (relay)",
        ],
    );
    let median = |v: &[f64]| if v.is_empty() { 0.0 } else { report::median(v) };
    for v in &variants {
        let [m1, m2, cert, matched] = v.bytes;
        table.row(vec![
            v.name.to_owned(),
            m1.to_string(),
            m2.to_string(),
            cert.to_string(),
            matched.to_string(),
            format!("{:.0}", median(&v.cpu)),
            format!("{:.0}", median(&v.relay)),
        ]);
    }
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}", a / b)
        } else {
            "-".into()
        }
    };
    if let [classic, hybrid] = variants.as_slice() {
        let mut row = vec!["hybrid / X25519".to_owned()];
        row.extend(
            hybrid
                .bytes
                .iter()
                .zip(classic.bytes)
                .map(|(h, c)| ratio(*h as f64, c as f64)),
        );
        row.push(ratio(median(&hybrid.cpu), median(&classic.cpu)));
        row.push(ratio(median(&hybrid.relay), median(&classic.relay)));
        table.row(row);
    }
    table.print();
    table.write_csv(&opts.common.out, "handshake")?;
    if failed > 0 {
        return Err(format!("handshake: {failed} sessions failed").into());
    }
    Ok(())
}
