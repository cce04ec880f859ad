//! What the hub tells a connection task (or a cluster virtual connection).

use std::sync::Arc;

use confidant_proto::ChatNumber;

use crate::data_path::{ChatLink, Outbox, Side};

/// Where data frames of one chat go.
#[derive(Clone, Debug)]
pub(crate) struct Route {
    /// The chat's shared state.
    pub(crate) link: Arc<ChatLink>,
    /// This connection's side of the chat.
    pub(crate) side: Side,
    /// The partner's outbox.
    pub(crate) partner: Outbox,
    /// The chat's number on the partner's connection.
    pub(crate) partner_chat: ChatNumber,
}

/// What the hub tells a connection task.
#[derive(Debug)]
pub(crate) enum ConnCommand {
    /// A chat started: route its data frames.
    /// (Boxed: this enum sizes the slots of every connection's command channel.)
    AddChat(ChatNumber, Box<Route>),
    /// A chat ended: forget its route.
    RemoveChat(ChatNumber),
    /// The hub queued a fatal error or close: stop reading.
    Terminate,
}
