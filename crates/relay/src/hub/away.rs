//! Feature `resume`: a connection whose socket was lost is *away* for the grace window. The
//! matcher keeps its place or availability without offering it anything, and each chat
//! partner that agreed on the feature is told `partner_away`, then `partner_back` when a new
//! socket took the connection over (`proto/spec.md`, "Resume"). When the window closes the
//! connection task reports `Disconnected`, and everything ends as for any disconnect.

use confidant_matcher::{PeerId, SeekerId};
use confidant_proto::RelayFrame;
use tokio::time::Instant;

use super::{ConnKind, Hub};
use crate::messages::ConnId;

impl Hub {
    /// `conn` lost its socket (`away`) or resumed (`!away`).
    pub(super) fn away(&mut self, conn: ConnId, away: bool, now: Instant) {
        let Some(entry) = self.conns.get(&conn) else {
            return;
        };
        let now = now.into_std();
        let actions = match &entry.kind {
            ConnKind::Seeker { .. } => self.matcher.seeker_away(SeekerId(conn.0), away, now),
            ConnKind::Peer { .. } => self.matcher.peer_away(PeerId(conn.0), away, now),
            ConnKind::Pending => Vec::new(),
        };
        for chat_id in entry.chats.values() {
            let Some(chat) = self.chats.get(chat_id) else {
                continue;
            };
            let (partner, partner_chat) = if chat.seeker.0 == conn {
                chat.peer
            } else {
                chat.seeker
            };
            if let Some(partner_entry) = self.conns.get(&partner)
                && partner_entry.resume
            {
                partner_entry.send(&if away {
                    RelayFrame::PartnerAway { chat: partner_chat }
                } else {
                    RelayFrame::PartnerBack { chat: partner_chat }
                });
            }
        }
        self.apply(actions);
    }
}
