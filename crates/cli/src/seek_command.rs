//! `confidant seek`: an anonymous seeker's chat in the terminal.
//!
//! Lines typed become messages; `/end` ends the chat, `/cancel` leaves the queue, `/quit`
//! (or end of input) ends and exits. Every message shown is immediately acknowledged as
//! read.

use confidant_client::{
    EndReason, NoPeerReason, Resource, ResourceCard, SeekPreferences, Seeker, SeekerEvent,
    SeekerOptions,
};
use confidant_proto::QueueNone;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::args::SeekArgs;
use crate::cli_error::CliError;
use crate::console::{disconnected, line_or_quit};
use crate::root_key;
use crate::tls_trust;

pub(crate) async fn run(args: SeekArgs) -> Result<(), CliError> {
    let tls = tls_trust::from_arguments(&args.connection)?;
    let root_key = match (&args.root_key, args.trust_relay_root_key) {
        (Some(value), _) => root_key::from_argument(value)?,
        (None, true) => {
            root_key::from_relay(&args.connection.relay, &tls, &args.connection.program).await?
        }
        (None, false) => {
            return Err(CliError::Invalid(
                "--root-key is required: the program's root public key (64 hex digits or a root.pub file). For the --dev demo relay only, --trust-relay-root-key takes it from the relay.".to_owned(),
            ));
        }
    };
    let options = SeekerOptions {
        avoid_department: args.avoid_department.clone(),
        tls,
        ..SeekerOptions::default()
    };
    let mut seeker = Seeker::connect(
        &args.connection.relay,
        &args.connection.program,
        root_key,
        options,
    )
    .await?;
    let program = seeker.program();
    println!("Connected to {}.", program.name);
    print_emergency(program.emergency.as_deref().unwrap_or_default());
    if let Some(statement) = program
        .confidentiality
        .as_ref()
        .and_then(|texts| texts.get("en").or_else(|| texts.values().next()))
    {
        println!("Confidentiality: {statement}");
    }
    println!("Peer support never replaces professional help. Type /quit at any time.");
    let preferences = SeekPreferences {
        topic: args.topic.clone(),
        language: args.language.clone(),
        peer_role: args.peer_role.clone(),
    };
    if args.urgent {
        seeker.seek_urgently(preferences).await?;
        if seeker
            .features()
            .iter()
            .any(|name| name == confidant_client::FEATURE_URGENCY)
        {
            println!("You said you need to talk soon: you will be offered to a peer first.");
        } else {
            println!("This relay cannot put urgent requests first; you wait in order.");
        }
    } else {
        seeker.seek(preferences).await?;
    }
    println!("Looking for a peer supporter…");

    let resources = seeker.program().resources.clone();
    let passes = seeker
        .features()
        .iter()
        .any(|name| name == confidant_proto::FEATURE_PASS);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut received = 0_u64;
    let mut chatting = false;
    // Whether the seeker was last told that nobody is available: said once when it becomes
    // true, with the resources, not at every figure update.
    let mut told_none = false;
    loop {
        tokio::select! {
            event = seeker.next_event() => {
                let Some(event) = event else { return Ok(()) };
                match event {
                    SeekerEvent::Queued { position, peers_online, estimate, none } => {
                        let estimate = estimate.map_or_else(|| "no estimate yet".to_owned(), rough_wait);
                        println!("[queue] position {position}, {peers_online} peer(s) online, {estimate}");
                        // The relay says why nobody can take the seeker (feature `queue-none`);
                        // a relay without it only gives the count.
                        let nobody = match none {
                            Some(QueueNone::NoneAvailable) => Some("No peer online can take you right now (those online do not fit your choices, or were skipped)."),
                            Some(QueueNone::NoneOnline) => Some("No peer is available right now."),
                            None if peers_online == 0 => Some("No peer is available right now."),
                            None => None,
                        };
                        if let Some(text) = nobody && !told_none {
                            println!("[queue] {text} You can keep waiting (a peer may come online), or /cancel.");
                            print_resources(&resources);
                        }
                        told_none = nobody.is_some();
                    }
                    SeekerEvent::NoPeer { reason, resources } => {
                        println!("[no peer] {}", no_peer_text(reason));
                        print_resources(&resources);
                        return Ok(());
                    }
                    SeekerEvent::Cancelled => {
                        println!("[left the queue]");
                        return Ok(());
                    }
                    SeekerEvent::SkippedSameDepartment => {
                        if passes {
                            println!("[skipped a peer from the department you asked to avoid; you keep your place in the queue]");
                        } else {
                            println!("[skipped a peer from the department you asked to avoid; looking again]");
                        }
                    }
                    SeekerEvent::Matched { peer } => {
                        chatting = true;
                        received = 0;
                        println!(
                            "[matched] {} — {}, {} (verified against the program's key)",
                            peer.display_name, peer.role, peer.department
                        );
                        if peer.post_quantum {
                            println!(
                                "[encryption] hybrid post-quantum handshake: X25519 and ML-KEM-768"
                            );
                        }
                        println!("Type a message and press Enter. /end ends the chat.");
                    }
                    SeekerEvent::Message(text) => {
                        received += 1;
                        println!("{text}");
                        let _ = seeker.mark_read(received).await;
                    }
                    SeekerEvent::Typing(true) => println!("[peer is typing…]"),
                    SeekerEvent::Typing(false) => {}
                    SeekerEvent::ReadUpTo(n) => println!("[peer has read {n} message(s)]"),
                    SeekerEvent::Resource(card) => print_card(&card),
                    SeekerEvent::Ended(reason) => {
                        println!("[chat ended] {}", end_text(&reason));
                        return match reason {
                            EndReason::Failed(error) => Err(error.into()),
                            _ => Ok(()),
                        };
                    }
                    SeekerEvent::ShuttingDown { .. } => println!("[the relay is shutting down]"),
                    SeekerEvent::ConnectionLost { grace } => println!(
                        "[connection lost — reconnecting; your place and your chat are kept for up to {} s, and what you type now is sent when it is back]",
                        grace.as_secs()
                    ),
                    SeekerEvent::Reconnected => println!("[reconnected — nothing was lost]"),
                    SeekerEvent::PeerAway => {
                        println!("[your peer's connection dropped; they may be back in a moment]");
                    }
                    SeekerEvent::PeerBack => println!("[your peer is back]"),
                    SeekerEvent::RelayError { code, message } => println!("[relay: {code}: {message}]"),
                    SeekerEvent::Disconnected(error) => return disconnected(error),
                    _ => {}
                }
            }
            line = lines.next_line() => {
                let line = line_or_quit(line);
                let line = line.trim();
                match line {
                    "" => {}
                    "/quit" | "/exit" => {
                        if chatting {
                            let _ = seeker.end().await;
                        } else {
                            let _ = seeker.cancel().await;
                        }
                        println!("[bye]");
                        return Ok(());
                    }
                    "/end" => {
                        if let Err(error) = seeker.end().await {
                            println!("[{error}]");
                        }
                    }
                    "/cancel" => {
                        if let Err(error) = seeker.cancel().await {
                            println!("[{error}]");
                        }
                    }
                    text => {
                        if let Err(error) = seeker.send_text(text).await {
                            println!("[not sent: {error}]");
                        }
                    }
                }
            }
        }
    }
}

fn no_peer_text(reason: NoPeerReason) -> &'static str {
    match reason {
        NoPeerReason::NoneOnline => "no peer supporter is online right now.",
        NoPeerReason::WaitLimit => "no peer supporter became free in time.",
        NoPeerReason::QueueFull => "the queue is full right now.",
    }
}

fn end_text(reason: &EndReason) -> String {
    match reason {
        EndReason::Local => "you ended the chat.".to_owned(),
        EndReason::PartnerEnded | EndReason::PartnerBlocked => {
            "the peer ended the chat.".to_owned()
        }
        EndReason::WithoutEndRecord(why) => format!(
            "the chat ended without the peer closing it ({why:?}); messages may be missing."
        ),
        EndReason::Failed(error) => format!("closed for your safety: {error}"),
    }
}

/// The relay's estimate as a person should read it: a rough figure, never a promise
/// (its measured error is in docs/reliability.md, "Wait estimates").
fn rough_wait(estimate: std::time::Duration) -> String {
    match estimate.as_secs() {
        0..60 => "likely under a minute".to_owned(),
        secs => format!("roughly {} min", secs.div_ceil(60)),
    }
}

/// Where emergency help is, before anything else: the program's entries, or the fallback
/// every client gives when a program configures none (`proto/spec.md`, `program-details`).
fn print_emergency(emergency: &[Resource]) {
    if emergency.is_empty() {
        println!("In an emergency, call your local emergency number.");
        return;
    }
    let numbers: Vec<String> = emergency
        .iter()
        .map(|entry| match &entry.phone {
            Some(phone) => format!("{} {phone}", entry.title),
            None => entry.title.clone(),
        })
        .collect();
    println!("In an emergency: {}.", numbers.join("; "));
}

fn print_resources(resources: &[Resource]) {
    if resources.is_empty() {
        return;
    }
    println!("Where to turn:");
    for resource in resources {
        let mut line = format!("  • {}", resource.title);
        for part in [&resource.phone, &resource.url, &resource.email]
            .into_iter()
            .flatten()
        {
            line.push_str(" — ");
            line.push_str(part);
        }
        println!("{line}");
    }
}

pub(crate) fn print_card(card: &ResourceCard) {
    let mut line = format!("[resource] {}", card.title);
    for part in [&card.phone, &card.url].into_iter().flatten() {
        line.push_str(" — ");
        line.push_str(part);
    }
    println!("{line}");
}
