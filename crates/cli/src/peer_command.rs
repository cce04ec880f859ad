//! `confidant peer`: a peer supporter's console, several chats at once.
//!
//! Commands: `/accept N`, `/decline N`, `/to CHAT text`, `/end CHAT`, `/block CHAT`,
//! `/resource CHAT N` (the program's N-th resource), `/resources`, `/chats`, `/away`,
//! `/available`, `/quit`. A line without a command goes to the only open chat, if there is
//! exactly one.

use std::collections::BTreeMap;

use confidant_client::{
    Availability, AvailabilitySettings, ChatNumber, EndReason, Peer, PeerCredential, PeerEvent,
    PeerOptions, ResourceCard,
};
use confidant_proto::ErrorCode;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::args::PeerArgs;
use crate::cli_error::CliError;
use crate::console::{disconnected, line_or_quit};
use crate::seek_command::print_card;
use crate::tls_trust;

pub(crate) async fn run(args: PeerArgs) -> Result<(), CliError> {
    let credential = PeerCredential::from_files(&args.key, &args.credential, &args.revocation)?;
    let mut peer = Peer::connect(
        &args.connection.relay,
        &args.connection.program,
        credential,
        PeerOptions {
            tls: tls_trust::from_arguments(&args.connection)?,
            ..PeerOptions::default()
        },
    )
    .await?;
    println!(
        "Verified as {:?} in {}.",
        peer.display_name(),
        peer.program().name
    );
    let settings = AvailabilitySettings {
        status: Availability::Available,
        capacity: args.capacity,
        topics: args.topics.clone(),
        languages: args.languages.clone(),
        auto_accept: args.auto_accept,
    };
    peer.set_availability(settings.clone()).await?;
    println!(
        "Commands: /accept N, /decline N, /to CHAT text, /end CHAT, /block CHAT, /resource CHAT N, /resources, /chats, /away, /available, /quit"
    );

    let resources = peer.program().resources.clone();
    let mut chats: BTreeMap<ChatNumber, u64> = BTreeMap::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            event = peer.next_event() => {
                let Some(event) = event else { return Ok(()) };
                match event {
                    PeerEvent::AvailabilitySet { status, capacity, active_chats } => {
                        println!("[availability] {status:?}, {active_chats}/{capacity} chats");
                    }
                    PeerEvent::Offer { offer, topic, language, expires_in, urgent } => {
                        println!(
                            "[offer {offer}]{} topic {}, language {} — /accept {offer} or /decline {offer} within {} s",
                            if urgent { " URGENT: the seeker needs to talk soon;" } else { "" },
                            topic.as_deref().unwrap_or("any"),
                            language.as_deref().unwrap_or("any"),
                            expires_in.as_secs()
                        );
                    }
                    PeerEvent::OfferWithdrawn { offer, reason } => {
                        println!("[offer {offer} withdrawn: {reason:?}]");
                    }
                    PeerEvent::ChatStarted { chat, .. } => println!("[chat {chat}] starting…"),
                    PeerEvent::ChatReady { chat } => {
                        chats.insert(chat, 0);
                        println!("[chat {chat}] secure channel up; the seeker is anonymous.");
                    }
                    PeerEvent::Message { chat, text } => {
                        let count = chats.entry(chat).or_insert(0);
                        *count += 1;
                        let read = *count;
                        println!("[chat {chat}] {text}");
                        let _ = peer.mark_read(chat, read).await;
                    }
                    PeerEvent::Typing { chat, typing: true } => println!("[chat {chat}] typing…"),
                    PeerEvent::ReadUpTo { chat, count } => {
                        println!("[chat {chat}] read {count} message(s)");
                    }
                    PeerEvent::Resource { chat, card } => {
                        print!("[chat {chat}] ");
                        print_card(&card);
                    }
                    PeerEvent::Ended { chat, reason } => {
                        chats.remove(&chat);
                        let how = match &reason {
                            EndReason::Local => "you ended it".to_owned(),
                            EndReason::PartnerEnded => "the seeker ended it".to_owned(),
                            other => other.to_string(),
                        };
                        println!("[chat {chat} ended: {how}]");
                    }
                    PeerEvent::ShuttingDown { .. } => println!("[the relay is shutting down]"),
                    PeerEvent::ConnectionLost { grace } => println!(
                        "[connection lost — reconnecting; your chats are kept for up to {} s, open offers lapse meanwhile]",
                        grace.as_secs()
                    ),
                    PeerEvent::Reconnected => println!("[reconnected — nothing was lost]"),
                    PeerEvent::PartnerAway { chat } => {
                        println!("[chat {chat}] the seeker's connection dropped; they may be back in a moment");
                    }
                    PeerEvent::PartnerBack { chat } => println!("[chat {chat}] the seeker is back"),
                    // Revoked while online: the relay closes the connection next; say why.
                    PeerEvent::RelayError { code: ErrorCode::CredentialRevoked, .. } => {
                        return Err(CliError::Revoked);
                    }
                    PeerEvent::RelayError { code, message } => println!("[relay: {code}: {message}]"),
                    PeerEvent::Disconnected(error) => return disconnected(error),
                    _ => {}
                }
            }
            line = lines.next_line() => {
                let line = line_or_quit(line);
                match handle_line(&peer, line.trim(), &chats, &resources, &settings).await {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    Err(message) => println!("[{message}]"),
                }
            }
        }
    }
}

/// One console line; `Ok(false)` means quit.
async fn handle_line(
    peer: &Peer,
    line: &str,
    chats: &BTreeMap<ChatNumber, u64>,
    resources: &[confidant_client::Resource],
    settings: &AvailabilitySettings,
) -> Result<bool, String> {
    let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let number = |text: &str| {
        text.parse::<u32>()
            .map_err(|_| format!("expected a number, got {text:?}"))
    };
    let result = match command {
        "" => Ok(()),
        "/quit" | "/exit" => {
            for chat in chats.keys() {
                let _ = peer.end(*chat).await;
            }
            println!("[bye]");
            return Ok(false);
        }
        "/accept" => peer.accept(number(rest)?).await,
        "/decline" => peer.decline(number(rest)?).await,
        "/to" => {
            let (chat, text) = rest.split_once(' ').ok_or("usage: /to CHAT text")?;
            peer.send_text(ChatNumber(number(chat)?), text)
                .await
                .map(drop)
        }
        "/end" => peer.end(ChatNumber(number(rest)?)).await,
        "/block" => peer.block(ChatNumber(number(rest)?)).await,
        "/resource" => {
            let (chat, index) = rest.split_once(' ').ok_or("usage: /resource CHAT N")?;
            let index = number(index)? as usize;
            let resource = index
                .checked_sub(1)
                .and_then(|i| resources.get(i))
                .ok_or("no such resource; /resources lists them")?;
            let card = ResourceCard {
                title: resource.title.clone(),
                url: resource.url.clone(),
                phone: resource.phone.clone(),
            };
            peer.send_resource(ChatNumber(number(chat)?), card).await
        }
        "/resources" => {
            for (i, resource) in resources.iter().enumerate() {
                println!("  {}: {}", i + 1, resource.title);
            }
            Ok(())
        }
        "/chats" => {
            let open: Vec<String> = chats.keys().map(ToString::to_string).collect();
            println!(
                "[open chats: {}]",
                if open.is_empty() {
                    "none".to_owned()
                } else {
                    open.join(", ")
                }
            );
            Ok(())
        }
        "/away" | "/available" => {
            let mut settings = settings.clone();
            settings.status = if command == "/away" {
                Availability::Away
            } else {
                Availability::Available
            };
            peer.set_availability(settings).await
        }
        _ if command.starts_with('/') => return Err(format!("unknown command {command}")),
        _ => match chats.keys().collect::<Vec<_>>().as_slice() {
            [only] => peer.send_text(**only, line).await.map(drop),
            [] => return Err("no open chat".to_owned()),
            _ => return Err("several chats are open: use /to CHAT text".to_owned()),
        },
    };
    result.map(|()| true).map_err(|e| e.to_string())
}
