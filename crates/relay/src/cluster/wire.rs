//! What crosses the broker. JSON for the few control messages, raw bytes for chat data.
//!
//! Nothing here names a person, a connection or an address: nodes, peers, offers and chats
//! appear only as random tokens made for this process (node), this peer connection, this
//! offer or this chat, and never reused. See `docs/scale-out.md`.

use bytes::{BufMut, Bytes, BytesMut};
use confidant_proto::{Base64Bytes, ChatEndReason};
use serde::{Deserialize, Serialize};

/// Subject for presence, heard by every node.
pub(crate) fn presence_subject(prefix: &str) -> String {
    format!("{prefix}.presence")
}

/// A node's inbox: offers (request/reply) and their outcomes.
pub(crate) fn inbox_subject(prefix: &str, node: &str) -> String {
    format!("{prefix}.node.{node}")
}

/// Data and end of one cross-node chat, towards `node`.
pub(crate) fn chat_subject(prefix: &str, node: &str, chat: &str) -> String {
    format!("{prefix}.chat.{node}.{chat}")
}

/// Every node sends this each heartbeat: its verified peers (certificates are what any
/// seeker is shown anyway) and its queue heads. It is also the node's heartbeat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Presence {
    pub(crate) node: String,
    /// The node is draining: offer nothing more to its peers.
    pub(crate) draining: bool,
    pub(crate) peers: Vec<PeerPresence>,
    /// Newest revocation list per program, so other nodes check certificates against it.
    pub(crate) lists: Vec<(String, Base64Bytes)>,
    /// Per program: seekers waiting and the longest wait in ms (the node's queue head).
    pub(crate) heads: Vec<(String, usize, u64)>,
    /// The node's last word as it shuts down (the rest is empty): forget it now, without
    /// waiting for the TTL, and count it as left, not lost. Absent in older nodes' presence.
    #[serde(default)]
    pub(crate) leaving: bool,
}

/// One peer of the sending node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PeerPresence {
    /// Random per peer connection.
    pub(crate) token: String,
    pub(crate) program: String,
    pub(crate) issuer_certificate: Base64Bytes,
    pub(crate) supporter_certificate: Base64Bytes,
    pub(crate) available: bool,
    /// Capacity free now (chats and reserved offers subtracted) on its own node.
    pub(crate) free: u16,
    pub(crate) topics: Vec<String>,
    pub(crate) languages: Vec<String>,
}

/// Messages to a node's inbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum NodeMessage {
    /// Request/reply: reserve one unit of `peer`'s capacity for a seeker of node `from`.
    /// Reply: [`ReserveReply`].
    Reserve {
        offer: String,
        from: String,
        peer: String,
        topic: Option<String>,
        language: Option<String>,
        peer_role: Option<String>,
        /// How long the seeker has waited, in ms (for cross-node fairness).
        waited_ms: u64,
    },
    /// The seeker's node withdraws an offer it made (seeker left, cancelled, timed out).
    Withdraw { offer: String },
    /// The peer accepted: the chat exists on the peer's node under `chat`.
    Matched {
        offer: String,
        chat: String,
        /// The peer's node (where the chat subject goes), so a seeker's node that no
        /// longer knows `offer` can still end the chat. Empty from older nodes.
        #[serde(default)]
        from: String,
    },
    /// The peer declined or let the offer time out.
    Declined { offer: String },
}

/// Answer to [`NodeMessage::Reserve`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct ReserveReply {
    pub(crate) granted: bool,
}

/// A chat-subject payload: one data frame, or the end of the chat.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChatPayload {
    Data(Bytes),
    End(ChatEndReason),
}

const DATA: u8 = 0;
const END: u8 = 1;

pub(crate) fn encode_data(frame: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(frame.len() + 1);
    out.put_u8(DATA);
    out.put_slice(frame);
    out.freeze()
}

pub(crate) fn encode_end(reason: ChatEndReason) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(END);
    out.put_slice(&serde_json::to_vec(&reason).unwrap_or_default());
    out.freeze()
}

pub(crate) fn decode_chat(payload: &Bytes) -> Option<ChatPayload> {
    match *payload.first()? {
        DATA => Some(ChatPayload::Data(payload.slice(1..))),
        END => serde_json::from_slice(payload.get(1..)?)
            .ok()
            .map(ChatPayload::End),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_payloads_round_trip() {
        let data = encode_data(b"\x00\x00\x00\x07hello");
        assert_eq!(
            decode_chat(&data),
            Some(ChatPayload::Data(Bytes::from_static(
                b"\x00\x00\x00\x07hello"
            )))
        );
        let end = encode_end(ChatEndReason::PartnerLeft);
        assert_eq!(
            decode_chat(&end),
            Some(ChatPayload::End(ChatEndReason::PartnerLeft))
        );
        assert_eq!(decode_chat(&Bytes::new()), None);
        assert_eq!(decode_chat(&Bytes::from_static(b"\x09")), None);
    }
}
