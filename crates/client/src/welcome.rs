//! The opening exchange every connection starts with: `hello` → `welcome`, negotiating
//! features (`proto/spec.md`, "Growing the protocol").
//!
//! The SDK offers every relay feature it implements. A relay from before features refuses
//! the unknown `features` member with `malformed_frame`; the SDK then opens a second
//! connection and says a plain version-1 `hello`, so a new app works against an old relay.

use std::time::Duration;

use confidant_proto::{
    ClientFrame, ErrorCode, PROTOCOL_VERSION, ProgramInfo, RELAY_FEATURES, RelayFrame, ResumeOffer,
    Role,
};

use crate::admission;
use crate::connection::{Connection, Incoming};
use crate::error::ClientError;
use crate::link::{Dial, Link};
use crate::transport::TlsTrust;

/// What the relay granted in `welcome`.
#[derive(Debug, Clone)]
pub(crate) struct Welcomed {
    /// The program as the relay describes it.
    pub(crate) program: ProgramInfo,
    /// The features in force on this connection (empty against a version-1 relay).
    pub(crate) features: Vec<String>,
    /// Feature `resume`: the secret and the grace window.
    pub(crate) resume: Option<ResumeOffer>,
}

/// Where and how to connect, and what to say in `hello`.
pub(crate) struct Greeting<'a> {
    pub(crate) url: &'a str,
    pub(crate) tls: &'a TlsTrust,
    pub(crate) timeout: Duration,
    pub(crate) role: Role,
    pub(crate) program: &'a str,
    pub(crate) chat_features: &'a [String],
}

/// Opens the connection and greets the relay, with features; against a relay that does not
/// know features, again without them.
pub(crate) async fn greet(greeting: &Greeting<'_>) -> Result<(Link, Welcomed), ClientError> {
    // Every feature this SDK implements: all the protocol knows.
    let features: Vec<String> = RELAY_FEATURES.iter().map(|f| (*f).to_owned()).collect();
    let hello = ClientFrame::Hello {
        v: u64::from(PROTOCOL_VERSION),
        role: greeting.role,
        program: greeting.program.to_owned(),
        features: Some(features),
        chat_features: Some(greeting.chat_features.to_vec()),
    };
    // Feature `admission`: a relay under load asks for a proof of work first.
    let mut proof: Option<String> = None;
    let mut tries = 0;
    let (connection, result) = loop {
        let url = admission::url(greeting.url, proof.as_deref());
        let mut connection = Connection::open(&url, greeting.tls, greeting.timeout).await?;
        let result = say_hello(&mut connection, &hello, greeting).await;
        match result {
            Err(error) if admission::asks_for_proof(&error) && tries < admission::TRIES => {
                connection.close().await;
                tries += 1;
                proof = Some(
                    admission::earn_proof(greeting.url, greeting.tls, greeting.timeout).await?,
                );
            }
            result => break (connection, result),
        }
    };
    let mut connection = connection;
    match result {
        Err(ClientError::Relay {
            code: ErrorCode::MalformedFrame,
            ..
        }) => {
            tracing::debug!("the relay does not know features; greeting it as version 1");
            connection.close().await;
            let mut connection = Connection::open(
                &admission::url(greeting.url, None),
                greeting.tls,
                greeting.timeout,
            )
            .await?;
            let hello = ClientFrame::hello_v1(greeting.role, greeting.program);
            let welcomed = say_hello(&mut connection, &hello, greeting).await?;
            Ok((Link::plain(connection), welcomed))
        }
        Ok(welcomed) => {
            connection.set_lenient();
            let dial = Dial {
                url: greeting.url.to_owned(),
                trust: greeting.tls.clone(),
                timeout: greeting.timeout,
            };
            let link = Link::new(connection, welcomed.resume.clone(), dial);
            Ok((link, welcomed))
        }
        Err(error) => Err(error),
    }
}

/// Sends `hello` and waits for `welcome`.
async fn say_hello(
    connection: &mut Connection,
    hello: &ClientFrame,
    greeting: &Greeting<'_>,
) -> Result<Welcomed, ClientError> {
    connection.send_control(hello).await?;
    match expect_control(connection, greeting.timeout).await? {
        RelayFrame::Welcome {
            v,
            role: granted,
            program: info,
            features,
            resume,
        } => {
            if v != PROTOCOL_VERSION {
                return Err(ClientError::VersionMismatch(v));
            }
            if granted != greeting.role || info.id != greeting.program {
                return Err(ClientError::ProtocolViolation(
                    "welcome does not match hello".to_owned(),
                ));
            }
            let features = features.unwrap_or_default();
            if features
                .iter()
                .any(|name| !RELAY_FEATURES.contains(&name.as_str()))
            {
                return Err(ClientError::ProtocolViolation(
                    "welcome grants a feature the client did not offer".to_owned(),
                ));
            }
            Ok(Welcomed {
                program: info,
                features,
                resume,
            })
        }
        other => Err(unexpected(other)),
    }
}

/// Waits for the next control frame during setup; data frames are a protocol violation.
pub(crate) async fn expect_control(
    connection: &mut Connection,
    timeout: Duration,
) -> Result<RelayFrame, ClientError> {
    match tokio::time::timeout(timeout, connection.recv()).await {
        Err(_) => Err(ClientError::Timeout),
        Ok(Err(error)) => Err(error),
        Ok(Ok(incoming)) => setup_frame(incoming),
    }
}

/// [`expect_control`] on a link (a peer's proof, after `welcome`): a socket lost during
/// setup ends the setup, resume or not (the relay keeps nothing before `verified`).
pub(crate) async fn expect_control_on(
    link: &mut Link,
    timeout: Duration,
) -> Result<RelayFrame, ClientError> {
    match tokio::time::timeout(timeout, link.recv()).await {
        Err(_) => Err(ClientError::Timeout),
        Ok(Err(error)) => Err(error),
        Ok(Ok(None)) => Err(ClientError::ConnectionClosed { close_code: None }),
        Ok(Ok(Some(incoming))) => setup_frame(incoming),
    }
}

fn setup_frame(incoming: Incoming) -> Result<RelayFrame, ClientError> {
    match incoming {
        Incoming::Control(frame) => Ok(*frame),
        Incoming::Data { .. } => Err(ClientError::ProtocolViolation(
            "data frame before setup finished".to_owned(),
        )),
    }
}

/// An `error` frame becomes the relay's refusal; anything else is out of order.
pub(crate) fn unexpected(frame: RelayFrame) -> ClientError {
    match frame {
        RelayFrame::Error { code, message } => ClientError::Relay { code, message },
        other => ClientError::ProtocolViolation(format!("unexpected {}", frame_kind(&other))),
    }
}

fn frame_kind(frame: &RelayFrame) -> &'static str {
    match frame {
        RelayFrame::Welcome { .. } => "welcome",
        RelayFrame::Challenge { .. } => "challenge",
        RelayFrame::Verified { .. } => "verified",
        RelayFrame::AvailabilitySet { .. } => "availability_set",
        RelayFrame::Queued { .. } => "queued",
        RelayFrame::Cancelled {} => "cancelled",
        RelayFrame::NoPeer { .. } => "no_peer",
        RelayFrame::Offer { .. } => "offer",
        RelayFrame::OfferWithdrawn { .. } => "offer_withdrawn",
        RelayFrame::Matched { .. } => "matched",
        RelayFrame::ChatStarted { .. } => "chat_started",
        RelayFrame::ChatEnded { .. } => "chat_ended",
        RelayFrame::Shutdown { .. } => "shutdown",
        RelayFrame::Error { .. } => "error",
        RelayFrame::Resumed { .. } => "resumed",
        RelayFrame::Ack { .. } => "ack",
        RelayFrame::PartnerAway { .. } => "partner_away",
        RelayFrame::PartnerBack { .. } => "partner_back",
    }
}
