//! The chat rules, which need a seeker and a peer at once. Each scenario logs the suite's
//! own peer in with auto-accept (so the relay starts chats without an `offer` round trip),
//! runs a seeker against it, and checks what both sides get. They assume no other peer of
//! the program is online.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{Value, json};

use crate::PeerKeys;
use crate::cases::{data_frame, hello_with};
use crate::wire::{Received, Wire};

/// How long "no offer comes" is watched for.
const QUIET: Duration = Duration::from_millis(1500);

type Run = for<'a> fn(
    String,
    String,
    &'a PeerKeys,
) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// One scenario.
pub struct Scenario {
    /// What it checks.
    pub name: &'static str,
    /// Where the rule is in `proto/spec.md`.
    pub spec: &'static str,
    /// Runs it: relay URL, program, the suite's peer.
    pub run: Run,
}

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "a peer's data frame before the seeker's msg1 is refused",
            spec: "Chats (3)",
            run: |url, program, peer| Box::pin(peer_data_before_msg1(url, program, peer)),
        },
        Scenario {
            name: "a seeker's end before msg1 excludes that peer for the connection",
            spec: "Offers (exclusions)",
            run: |url, program, peer| Box::pin(exclusion(url, program, peer, Ending::Refused)),
        },
        Scenario {
            name: "a chat that ran excludes nobody: the seeker may meet the same peer again",
            spec: "Offers (exclusions)",
            run: |url, program, peer| Box::pin(exclusion(url, program, peer, Ending::Ran)),
        },
        Scenario {
            name: "a block excludes the seeker's connection from that peer",
            spec: "block; Offers (exclusions)",
            run: |url, program, peer| Box::pin(exclusion(url, program, peer, Ending::Blocked)),
        },
        Scenario {
            name: "pass (feature pass): the seeker keeps its place, that peer is excluded",
            spec: "pass; Offers (exclusions)",
            run: |url, program, peer| Box::pin(pass(url, program, peer)),
        },
        Scenario {
            name: "resume (feature resume): a lost socket's chat is taken over by a new one, once",
            spec: "Resume",
            run: |url, program, peer| Box::pin(resume(url, program, peer)),
        },
        Scenario {
            name: "chat features are passed to the partner with chat-features, and only then",
            spec: "Chat features",
            run: |url, program, peer| Box::pin(chat_features(url, program, peer)),
        },
    ]
}

/// The suite's peer, available with auto-accept and `capacity`.
async fn available_peer(
    url: &str,
    program: &str,
    peer: &PeerKeys,
    capacity: u16,
    hello_extra: &Value,
) -> Result<Wire, String> {
    let mut wire = peer.log_in(url, program, hello_extra).await?;
    wire.frame(&json!({"type": "set_availability", "status": "available",
        "capacity": capacity, "auto_accept": true}))
        .await?;
    wire.expect("availability_set").await?;
    Ok(wire)
}

/// A seeker after `welcome`, with `hello_extra` members in its `hello`.
async fn seeker(url: &str, program: &str, hello_extra: &Value) -> Result<Wire, String> {
    let mut wire = Wire::connect(url).await?;
    wire.frame(&hello_with("seeker", program, hello_extra))
        .await?;
    wire.expect("welcome").await?;
    Ok(wire)
}

fn chat_of(frame: &Value) -> Result<u32, String> {
    frame["chat"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("no chat number in {frame}"))
}

/// Seeks and returns (seeker's `matched`, peer's `chat_started`).
async fn seek_and_match(seeker: &mut Wire, peer: &mut Wire) -> Result<(Value, Value), String> {
    seeker.frame(&json!({"type": "seek"})).await?;
    let matched = seeker.expect("matched").await?;
    let started = peer
        .expect("chat_started")
        .await
        .map_err(|e| format!("{e} (is another peer of the program online?)"))?;
    Ok((matched, started))
}

/// Waits up to [`QUIET`] and fails if the peer is offered anything.
async fn no_offer(peer: &mut Wire) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + QUIET;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match peer.next_within(left).await {
            Received::Silence => return Ok(()),
            received if received.kind() == Some("availability_set") => {}
            other => {
                return Err(format!(
                    "expected no offer, the peer got {}",
                    other.describe()
                ));
            }
        }
    }
}

async fn peer_data_before_msg1(
    url: String,
    program: String,
    keys: &PeerKeys,
) -> Result<(), String> {
    let mut peer = available_peer(&url, &program, keys, 1, &json!({})).await?;
    let mut seeker = seeker(&url, &program, &json!({})).await?;
    let (_, started) = seek_and_match(&mut seeker, &mut peer).await?;
    peer.binary(data_frame(chat_of(&started)?)).await?;
    let received = peer.next_skipping_updates().await;
    if received.error_code() != Some("unexpected_frame") {
        return Err(format!(
            "expected error unexpected_frame, got {}",
            received.describe()
        ));
    }
    match peer.next_skipping_updates().await {
        Received::Closed(Some(4409)) => {}
        other => return Err(format!("expected close 4409, got {}", other.describe())),
    }
    // The seeker saw no data, only the end of the chat.
    match seeker.next_skipping_updates().await {
        received if received.kind() == Some("chat_ended") => Ok(()),
        other => Err(format!(
            "the seeker should get chat_ended and no data, got {}",
            other.describe()
        )),
    }
}

/// How the first chat of an exclusion scenario ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The seeker ends it before sending msg1 (it refused the peer).
    Refused,
    /// The seeker sends a data frame (msg1), then ends it.
    Ran,
    /// The peer blocks the seeker.
    Blocked,
}

async fn exclusion(
    url: String,
    program: String,
    keys: &PeerKeys,
    ending: Ending,
) -> Result<(), String> {
    let mut peer = available_peer(&url, &program, keys, 1, &json!({})).await?;
    let mut seeker = seeker(&url, &program, &json!({})).await?;
    let (matched, started) = seek_and_match(&mut seeker, &mut peer).await?;
    let seeker_chat = chat_of(&matched)?;
    let peer_chat = chat_of(&started)?;
    match ending {
        Ending::Refused => {
            seeker
                .frame(&json!({"type": "end", "chat": seeker_chat}))
                .await?;
        }
        Ending::Ran => {
            seeker.binary(data_frame(seeker_chat)).await?;
            match peer.next_skipping_updates().await {
                Received::Data(_) => {}
                other => {
                    return Err(format!(
                        "the peer should get msg1, got {}",
                        other.describe()
                    ));
                }
            }
            seeker
                .frame(&json!({"type": "end", "chat": seeker_chat}))
                .await?;
        }
        Ending::Blocked => {
            peer.frame(&json!({"type": "block", "chat": peer_chat}))
                .await?;
        }
    }
    seeker.expect("chat_ended").await?;
    peer.expect("chat_ended").await?;
    seeker.frame(&json!({"type": "seek"})).await?;
    let result = if ending == Ending::Ran {
        peer.expect("chat_started")
            .await
            .map(|_| ())
            .map_err(|e| format!("the same peer should be offered the seeker again: {e}"))
    } else {
        no_offer(&mut peer).await
    };
    seeker.close().await;
    peer.close().await;
    result
}

async fn chat_features(url: String, program: String, keys: &PeerKeys) -> Result<(), String> {
    let negotiated = |chat_features: &[&str]| json!({"features": ["chat-features"], "chat_features": chat_features});
    let mut peer = available_peer(&url, &program, keys, 2, &negotiated(&["x-b", "x-a"])).await?;
    let mut new_seeker = seeker(&url, &program, &negotiated(&["x-a"])).await?;
    let (matched, started) = seek_and_match(&mut new_seeker, &mut peer).await?;
    if matched.get("chat_features") != Some(&json!(["x-b", "x-a"])) {
        return Err(format!(
            "matched should carry the peer's list, got {matched}"
        ));
    }
    if started.get("chat_features") != Some(&json!(["x-a"])) {
        return Err(format!(
            "chat_started should carry the seeker's list, got {started}"
        ));
    }
    let mut old_seeker = seeker(&url, &program, &json!({})).await?;
    let (matched, started) = seek_and_match(&mut old_seeker, &mut peer).await?;
    if matched.get("chat_features").is_some() {
        return Err(format!(
            "a version-1 seeker must get a version-1 matched, got {matched}"
        ));
    }
    if started.get("chat_features") != Some(&json!([])) {
        return Err(format!(
            "a version-1 seeker declared no chat features: chat_started should say [], got {started}"
        ));
    }
    new_seeker.close().await;
    old_seeker.close().await;
    peer.close().await;
    Ok(())
}

/// Feature `pass`: the seeker refuses the matched peer before msg1 and is queued again at
/// once (position 1), told `none_available` with `queue-none` (the only peer online is now
/// excluded), and that peer is never offered it again. A relay that does not grant `pass`
/// passes this scenario untested: the feature is optional.
async fn pass(url: String, program: String, keys: &PeerKeys) -> Result<(), String> {
    let mut peer = available_peer(&url, &program, keys, 1, &json!({})).await?;
    let mut seeker = Wire::connect(&url).await?;
    seeker
        .frame(&hello_with(
            "seeker",
            &program,
            &json!({"features": ["pass", "queue-none"]}),
        ))
        .await?;
    let welcome = seeker.expect("welcome").await?;
    let granted = |name: &str| {
        welcome
            .get("features")
            .and_then(Value::as_array)
            .is_some_and(|names| names.iter().any(|n| n == name))
    };
    if !granted("pass") {
        seeker.close().await;
        peer.close().await;
        return Ok(());
    }
    let (matched, _) = seek_and_match(&mut seeker, &mut peer).await?;
    let chat = chat_of(&matched)?;
    seeker.frame(&json!({"type": "pass", "chat": chat})).await?;
    let ended = seeker.next_skipping_updates().await;
    match &ended {
        Received::Frame(frame)
            if frame["type"] == "chat_ended"
                && frame["chat"] == chat
                && frame["reason"] == "ended" => {}
        other => {
            return Err(format!(
                "pass should end the chat with reason ended, got {}",
                other.describe()
            ));
        }
    }
    let queued = seeker.next_within(QUIET).await;
    let Received::Frame(queued) = queued else {
        return Err(format!(
            "pass should queue the seeker again, got {}",
            queued.describe()
        ));
    };
    if queued.get("type") != Some(&json!("queued")) || queued.get("position") != Some(&json!(1)) {
        return Err(format!("expected queued at position 1, got {queued}"));
    }
    if granted("queue-none") && queued.get("none") != Some(&json!("none_available")) {
        return Err(format!(
            "the only peer online was passed: queued.none should be none_available, got {queued}"
        ));
    }
    peer.expect("chat_ended").await?;
    let result = no_offer(&mut peer).await;
    seeker.close().await;
    peer.close().await;
    result
}

/// Feature `resume`: the seeker's socket is dropped mid-chat without a close; the peer (if
/// it agreed on `resume`) is told `partner_away`; a new socket presenting the secret and the
/// count of what it received gets `resumed` with the count of what the relay received
/// (`seek` and one data frame), the peer `partner_back`, and the chat goes on; the spent
/// secret is refused with `resume_failed` (4412). A relay that does not grant `resume` passes
/// this scenario untested: the feature is optional.
async fn resume(url: String, program: String, keys: &PeerKeys) -> Result<(), String> {
    let mut peer =
        available_peer(&url, &program, keys, 1, &json!({"features": ["resume"]})).await?;
    let mut seeker = Wire::connect(&url).await?;
    seeker
        .frame(&hello_with(
            "seeker",
            &program,
            &json!({"features": ["resume"]}),
        ))
        .await?;
    let welcome = seeker.expect("welcome").await?;
    let Some(secret) = welcome
        .get("resume")
        .and_then(|resume| resume.get("secret"))
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        seeker.close().await;
        peer.close().await;
        return Ok(());
    };
    seeker.frame(&json!({"type": "seek"})).await?;
    // Count every message after `welcome` but the relay's `ack`s.
    let mut received = 0_u64;
    let chat = loop {
        let next = seeker.next().await;
        match next.kind() {
            Some("ack") => {}
            Some("matched") => {
                received += 1;
                if let Received::Frame(frame) = &next {
                    break chat_of(frame)?;
                }
            }
            Some(_) => received += 1,
            None => return Err(format!("expected matched, got {}", next.describe())),
        }
    };
    peer.expect("chat_started").await?;
    seeker.binary(data_frame(chat)).await?;
    // The socket goes without a close, as on a network switch.
    drop(seeker);
    let peer_resume = partner_frame(&mut peer, "partner_away").await?;
    let mut seeker = Wire::connect(&url).await?;
    seeker
        .frame(&json!({"type": "resume", "secret": secret, "received": received}))
        .await?;
    let resumed = seeker.expect("resumed").await?;
    if resumed.get("received") != Some(&json!(2)) {
        return Err(format!(
            "the relay received seek and one data frame: resumed.received should be 2, got {resumed}"
        ));
    }
    if resumed.get("secret") == Some(&json!(secret)) {
        return Err("resumed must carry a fresh secret".to_owned());
    }
    if peer_resume {
        partner_frame(&mut peer, "partner_back").await?;
    }
    seeker.frame(&json!({"type": "end", "chat": chat})).await?;
    let ended = loop {
        let next = seeker.next().await;
        if next.kind() != Some("ack") {
            break next;
        }
    };
    if ended.kind() != Some("chat_ended") {
        return Err(format!(
            "end after the resume should end the chat, got {}",
            ended.describe()
        ));
    }
    // The spent secret works no more.
    let mut again = Wire::connect(&url).await?;
    again
        .frame(&json!({"type": "resume", "secret": secret, "received": 0}))
        .await?;
    let refused = again.next().await;
    let refused_code = refused.error_code().map(str::to_owned);
    let closed = again.next().await;
    seeker.close().await;
    peer.close().await;
    match (refused_code.as_deref(), closed) {
        (Some("resume_failed"), Received::Closed(Some(4412))) => Ok(()),
        (code, closed) => Err(format!(
            "a spent secret should get resume_failed and close 4412, got {code:?} then {}",
            closed.describe()
        )),
    }
}

/// The peer's next `kind` frame, skipping data frames and updates; `Ok(false)` when the
/// peer did not agree on `resume` (it is told nothing, by the spec).
async fn partner_frame(peer: &mut Wire, kind: &str) -> Result<bool, String> {
    loop {
        let next = peer.next_within(QUIET).await;
        match next.kind() {
            Some(found) if found == kind => return Ok(true),
            Some("ack" | "queued" | "availability_set") => {}
            None if matches!(next, Received::Data(_)) => {}
            // Silence: a peer without the feature hears nothing.
            None if matches!(next, Received::Silence) => return Ok(false),
            _ => return Err(format!("expected {kind}, got {}", next.describe())),
        }
    }
}
