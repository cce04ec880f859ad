//! The Confidant wire protocol, as plain data.
//!
//! This crate is what the relay and every client agree on: the JSON control frames, the
//! binary data-frame header, the limits, and the error catalogue. It does no I/O, has no
//! async code and — deliberately — no cryptography: the relay depends on it to route bytes,
//! and nothing in here could decrypt a chat. The prose specification is `proto/spec.md`.
#![forbid(unsafe_code)]

pub mod admission;
pub mod base64_bytes;
pub mod client_frame;
pub mod data_frame;
pub mod decode_error;
pub mod error_code;
pub mod features;
pub mod limits;
mod optional;
pub mod program;
pub mod relay_frame;

pub use admission::AdmissionChallenge;
pub use base64_bytes::Base64Bytes;
pub use client_frame::{Availability, ClientFrame, Role, SeekPreferences, is_tag};
pub use data_frame::{ChatNumber, DataFrame};
pub use decode_error::DecodeError;
pub use error_code::ErrorCode;
pub use features::{
    FEATURE_ADMISSION, FEATURE_CHAT_FEATURES, FEATURE_PASS, FEATURE_PROGRAM_DETAILS,
    FEATURE_QUEUE_NONE, FEATURE_RESUME, FEATURE_URGENCY, MAX_FEATURES, RELAY_FEATURES,
};
pub use limits::PROTOCOL_VERSION;
pub use program::{ProgramInfo, Resource};
pub use relay_frame::{
    ChatEndReason, Credential, NoPeerReason, OfferWithdrawnReason, QueueNone, RelayFrame,
    ResumeOffer,
};
