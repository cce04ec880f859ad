//! The scenarios, and what they share: chat pairs set up over real protocol traffic.

pub(crate) mod churn;
pub(crate) mod idle;
pub(crate) mod latency;
pub(crate) mod setup;
pub(crate) mod throughput;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use confidant_crypto::{ChatSession, PeerHandshake};
use confidant_proto::{ChatNumber, RelayFrame};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::fixtures::{Credential, Program};
use crate::net::Ws;
use crate::protocol::{self, Target};
use crate::server::Kind;
use crate::{Common, Result};

/// Connections opened at once while setting up.
const SETUP_PARALLELISM: usize = 64;

/// One chat, both ends held by the load generator.
pub(crate) struct ChatPair {
    pub(crate) seeker: Ws,
    pub(crate) seeker_chat: ChatNumber,
    pub(crate) seeker_session: ChatSession,
    pub(crate) peer: Ws,
    pub(crate) peer_chat: ChatNumber,
    pub(crate) peer_session: ChatSession,
}

/// One side after the handshake, keyed by the handshake hash both sides share.
type Half = (Ws, ChatNumber, ChatSession);

/// Sets up `n` chats, each on its own seeker and its own peer connection (peer capacity 1,
/// the same topology as the baseline's pairs): login, seek, match, verify, Noise NK.
pub(crate) async fn establish_pairs(
    target: &Arc<Target>,
    program: &mut Program,
    n: usize,
) -> Result<Vec<ChatPair>> {
    let gate = Arc::new(Semaphore::new(SETUP_PARALLELISM));
    let mut peers: JoinSet<Result<([u8; 32], Half)>> = JoinSet::new();
    let mut seekers: JoinSet<Result<([u8; 32], Half)>> = JoinSet::new();
    match target.kind {
        Kind::Relay => {
            // Peers first, all logged in and available, then the seekers.
            let mut logged_in: JoinSet<Result<(Ws, Arc<Credential>)>> = JoinSet::new();
            for _ in 0..n {
                let credential = Arc::new(program.supporter()?);
                let (target, gate) = (target.clone(), gate.clone());
                logged_in.spawn(async move {
                    let _permit = gate.acquire_owned().await?;
                    let mut ws = target.connect(0).await?;
                    protocol::peer_login(&mut ws, &target.program, &credential, 1).await?;
                    Ok((ws, credential))
                });
            }
            while let Some(joined) = logged_in.join_next().await {
                let (ws, credential) = joined??;
                peers.spawn(relay_peer_half(ws, credential));
            }
            for _ in 0..n {
                let (target, gate) = (target.clone(), gate.clone());
                seekers.spawn(async move { relay_seeker_half(&target, &gate).await });
            }
        }
        Kind::Baseline => {
            let credential = target.baseline_peer.clone().ok_or("no baseline peer")?;
            for pair in 0..n as u64 {
                let (t, g, c) = (target.clone(), gate.clone(), credential.clone());
                peers.spawn(async move {
                    let ws = {
                        let _permit = g.acquire_owned().await?;
                        t.connect(pair).await?
                    };
                    baseline_peer_half(ws, c).await
                });
                let (t, g, c) = (target.clone(), gate.clone(), credential.clone());
                seekers.spawn(async move {
                    let ws = {
                        let _permit = g.acquire_owned().await?;
                        t.connect(pair).await?
                    };
                    baseline_seeker_half(&t, ws, &c).await
                });
            }
        }
    }
    let mut by_hash: HashMap<[u8; 32], Half> = HashMap::new();
    while let Some(joined) = peers.join_next().await {
        let (hash, half) = joined??;
        by_hash.insert(hash, half);
    }
    let mut pairs = Vec::with_capacity(n);
    while let Some(joined) = seekers.join_next().await {
        let (hash, seeker) = joined??;
        let Some(peer) = by_hash.remove(&hash) else {
            return Err("a seeker's handshake matches no peer's".into());
        };
        pairs.push(ChatPair {
            seeker: seeker.0,
            seeker_chat: seeker.1,
            seeker_session: seeker.2,
            peer: peer.0,
            peer_chat: peer.1,
            peer_session: peer.2,
        });
    }
    Ok(pairs)
}

async fn relay_peer_half(mut ws: Ws, credential: Arc<Credential>) -> Result<([u8; 32], Half)> {
    let chat = match protocol::recv_control(&mut ws).await? {
        RelayFrame::ChatStarted { chat, .. } => chat,
        other => return Err(format!("expected chat_started, got {}", other.to_json()).into()),
    };
    let (got, msg1) = protocol::recv_data(&mut ws).await?;
    if got != chat {
        return Err("msg1 on the wrong chat".into());
    }
    let (session, msg2) =
        PeerHandshake::respond(&credential.secret, &credential.supporter_certificate, &msg1)
            .map_err(|e| format!("respond: {e:?}"))?;
    protocol::send_data(&mut ws, chat, &msg2).await?;
    Ok((session.handshake_hash(), (ws, chat, session)))
}

async fn relay_seeker_half(target: &Target, gate: &Semaphore) -> Result<([u8; 32], Half)> {
    let mut ws = {
        let _permit = gate.acquire().await?;
        target.connect(0).await?
    };
    let matched = match protocol::seeker_seek(&mut ws, &target.program).await? {
        Some(frame) => frame,
        None => protocol::recv_control(&mut ws).await?,
    };
    let RelayFrame::Matched { chat, credential } = matched else {
        return Err(format!("expected matched, got {}", matched.to_json()).into());
    };
    let peer_static = target.verify(
        credential.issuer_certificate.as_bytes(),
        credential.supporter_certificate.as_bytes(),
        credential.revocation_list.as_bytes(),
    )?;
    let session = protocol::seeker_handshake(
        &mut ws,
        chat,
        &peer_static,
        credential.supporter_certificate.as_bytes(),
    )
    .await?;
    Ok((session.handshake_hash(), (ws, chat, session)))
}

async fn baseline_peer_half(mut ws: Ws, credential: Arc<Credential>) -> Result<([u8; 32], Half)> {
    let (chat, msg1) = protocol::recv_data(&mut ws).await?;
    let (session, msg2) =
        PeerHandshake::respond(&credential.secret, &credential.supporter_certificate, &msg1)
            .map_err(|e| format!("respond: {e:?}"))?;
    protocol::send_data(&mut ws, chat, &msg2).await?;
    Ok((session.handshake_hash(), (ws, chat, session)))
}

async fn baseline_seeker_half(
    target: &Target,
    mut ws: Ws,
    credential: &Credential,
) -> Result<([u8; 32], Half)> {
    let chat = ChatNumber(1);
    let peer_static = target.verify(
        &credential.issuer_certificate,
        &credential.supporter_certificate,
        &credential.revocation_list,
    )?;
    let session = protocol::seeker_handshake(
        &mut ws,
        chat,
        &peer_static,
        &credential.supporter_certificate,
    )
    .await?;
    Ok((session.handshake_hash(), (ws, chat, session)))
}

/// Both kinds in alternation, `repeat` times each: relay, baseline, relay, baseline, …
pub(crate) fn alternation(common: &Common) -> Vec<Kind> {
    (0..common.repeat.max(1))
        .flat_map(|_| [Kind::Relay, Kind::Baseline])
        .filter(|kind| {
            common
                .only
                .as_deref()
                .is_none_or(|only| only == kind.name())
        })
        .collect()
}

/// `smoke`: every scenario at tiny sizes; any failed session fails the run.
pub(crate) async fn smoke(common: &Common) -> Result<()> {
    let started = std::time::Instant::now();
    let common = Common {
        repeat: 1,
        ..common.clone()
    };
    let tiny = Duration::from_millis(300);
    let results = throughput::run(&throughput::Opts {
        common: common.clone(),
        chats: vec![4],
        buckets: vec![256, 16384],
        warmup: tiny,
        measure: tiny,
    })
    .await?;
    if results.iter().any(|r| r.frames_per_second <= 0.0) {
        return Err("smoke: a throughput run forwarded nothing".into());
    }
    latency::run(&latency::Opts {
        common: common.clone(),
        chats: 4,
        load: 0.5,
        rate: Some(2_000.0),
        warmup: tiny,
        measure: tiny,
    })
    .await?;
    setup::run(&setup::Opts {
        common: common.clone(),
        sessions: 40,
        concurrency: 8,
    })
    .await?;
    idle::run(&idle::Opts {
        common: common.clone(),
        steps: vec![60],
        baseline: true,
    })
    .await?;
    churn::run(&churn::Opts {
        common: common.clone(),
        sessions: 200,
        warmup: 40,
        concurrency: 8,
    })
    .await?;
    println!(
        "smoke: every scenario passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `all`: every scenario at full size, for docs/performance.md. A failing scenario is
/// reported and the others still run; the run fails at the end.
pub(crate) async fn all(common: &Common, churn_sessions: u64, idle_max: usize) -> Result<()> {
    let mut failed = Vec::new();
    let mut note = |name: &str, result: Result<()>| {
        if let Err(error) = result {
            eprintln!("{name}: {error}");
            failed.push(name.to_owned());
        }
    };
    let result = throughput::run(&throughput::Opts {
        common: common.clone(),
        chats: vec![100, 1000],
        buckets: vec![256, 16384],
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(4),
    })
    .await
    .map(drop);
    note("throughput", result);
    let result = latency::run(&latency::Opts {
        common: common.clone(),
        chats: 100,
        load: 0.5,
        rate: None,
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(5),
    })
    .await;
    note("latency", result);
    let result = setup::run(&setup::Opts {
        common: common.clone(),
        sessions: 20_000,
        concurrency: 128,
    })
    .await;
    note("setup", result);
    let steps = [idle_max / 8, idle_max / 4, idle_max / 2, idle_max];
    let result = idle::run(&idle::Opts {
        common: common.clone(),
        steps: steps.to_vec(),
        baseline: true,
    })
    .await;
    note("idle", result);
    let result = churn::run(&churn::Opts {
        common: common.clone(),
        sessions: churn_sessions,
        warmup: churn_sessions / 20,
        concurrency: 128,
    })
    .await;
    note("churn", result);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed scenarios: {}", failed.join(", ")).into())
    }
}
