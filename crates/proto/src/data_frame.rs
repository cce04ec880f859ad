//! Binary data frames: a 4-byte header the relay routes on, then exactly one Noise message
//! the relay never parses.
//!
//! ```text
//! +----------------------+---------------------------------------+
//! | chat number (u32 BE) | Noise message (1..=16400 bytes)       |
//! +----------------------+---------------------------------------+
//! ```
//!
//! The chat number is per connection, chosen by the relay, never a global identifier: the
//! same chat has one number on the seeker's connection and (usually) another on the peer's,
//! and the relay rewrites the header as it forwards.

use serde::{Deserialize, Serialize};

use crate::decode_error::DecodeError;
use crate::limits::{DATA_HEADER_LEN, MAX_DATA_FRAME, MAX_NOISE_MESSAGE};

/// A chat's number on one connection (`1..`; `0` is never assigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatNumber(pub u32);

impl std::fmt::Display for ChatNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A decoded data frame borrowing its payload from the received bytes (no copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataFrame<'a> {
    /// The chat on the sending (or receiving) connection.
    pub chat: ChatNumber,
    /// One Noise message, opaque to the relay.
    pub noise_message: &'a [u8],
}

impl<'a> DataFrame<'a> {
    /// Splits a binary WebSocket message into header and Noise message.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_DATA_FRAME {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_DATA_FRAME,
            });
        }
        let (header, noise_message) = bytes
            .split_first_chunk::<DATA_HEADER_LEN>()
            .ok_or(DecodeError::Truncated)?;
        if noise_message.is_empty() {
            return Err(DecodeError::Truncated);
        }
        let chat = ChatNumber(u32::from_be_bytes(*header));
        if chat.0 == 0 {
            return Err(DecodeError::Invalid {
                field: "chat",
                reason: "chat number 0 is never assigned",
            });
        }
        Ok(Self {
            chat,
            noise_message,
        })
    }

    /// Encodes header and payload into one buffer.
    pub fn encode(chat: ChatNumber, noise_message: &[u8]) -> Result<Vec<u8>, DecodeError> {
        if noise_message.is_empty() {
            return Err(DecodeError::Truncated);
        }
        if noise_message.len() > MAX_NOISE_MESSAGE {
            return Err(DecodeError::TooLarge {
                len: noise_message.len() + DATA_HEADER_LEN,
                max: MAX_DATA_FRAME,
            });
        }
        let mut out = Vec::with_capacity(DATA_HEADER_LEN + noise_message.len());
        out.extend_from_slice(&chat.0.to_be_bytes());
        out.extend_from_slice(noise_message);
        Ok(out)
    }

    /// Rewrites the chat number of an already encoded frame in place: how the relay
    /// forwards without copying the payload. The frame must have come from [`Self::decode`].
    pub fn rewrite_chat(frame: &mut [u8], chat: ChatNumber) -> Result<(), DecodeError> {
        let header = frame
            .first_chunk_mut::<DATA_HEADER_LEN>()
            .ok_or(DecodeError::Truncated)?;
        *header = chat.0.to_be_bytes();
        Ok(())
    }
}
