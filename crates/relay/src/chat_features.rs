//! What a connection said in `hello` about end-to-end chat features (`proto/spec.md`,
//! "Growing the protocol"). The relay never interprets the names: it hands each side's list
//! to its chat partner in `matched` / `chat_started`, and both clients bind the agreed set
//! into the chat's Noise prologue, so a relay that alters a list breaks the handshake.
//!
//! A leaf module: the connection task fills it, the hub reads it.

/// One connection's chat features.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChatFeatures {
    /// The connection agreed on the `chat-features` feature: its `matched` or `chat_started`
    /// carries the partner's list (possibly empty). Without it, neither does.
    pub(crate) receives_partner_list: bool,
    /// The chat features the client declared (empty if none, or for a party on another
    /// node: cross-node chats carry no chat features yet, so both sides agree on none).
    pub(crate) declared: Vec<String>,
}

impl ChatFeatures {
    /// The `chat_features` member for this connection's `matched` / `chat_started`, given
    /// its partner's features.
    pub(crate) fn member_for(&self, partner: &Self) -> Option<Vec<String>> {
        self.receives_partner_list.then(|| partner.declared.clone())
    }
}
