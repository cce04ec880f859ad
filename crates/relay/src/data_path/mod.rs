//! The data path between two connections of a chat, which never passes through the hub:
//! each side's [`Outbox`] (bounded, drained by the connection's own task) and the chat's
//! shared [`ChatLink`] (per-direction budget, the seeker's-msg1 gate, the end flag).
//!
//! The two files need each other (an outbox item carries its chat's link, so the writer can
//! give the budget back; the link pushes into an outbox), which is why they are one module.

mod chat_link;
mod outbox;

pub(crate) use chat_link::{ChatLink, ForwardError, Side};
pub(crate) use outbox::{CONTROL_SLACK, Outbound, Outbox, OutboxReceiver};
