//! The opening exchange every connection starts with: `hello` → `welcome`.

use std::time::Duration;

use confidant_proto::{ClientFrame, PROTOCOL_VERSION, ProgramInfo, RelayFrame, Role};

use crate::connection::{Connection, Incoming};
use crate::error::ClientError;

/// Sends `hello` and waits for `welcome`, returning the program description.
pub(crate) async fn say_hello(
    connection: &mut Connection,
    role: Role,
    program: &str,
    timeout: Duration,
) -> Result<ProgramInfo, ClientError> {
    connection
        .send_control(&ClientFrame::Hello {
            v: PROTOCOL_VERSION,
            role,
            program: program.to_owned(),
        })
        .await?;
    match expect_control(connection, timeout).await? {
        RelayFrame::Welcome {
            v,
            role: granted,
            program: info,
        } => {
            if v != PROTOCOL_VERSION {
                return Err(ClientError::VersionMismatch(v));
            }
            if granted != role || info.id != program {
                return Err(ClientError::ProtocolViolation(
                    "welcome does not match hello".to_owned(),
                ));
            }
            Ok(info)
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
        Ok(Ok(Incoming::Control(frame))) => Ok(frame),
        Ok(Ok(Incoming::Data { .. })) => Err(ClientError::ProtocolViolation(
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
    }
}
