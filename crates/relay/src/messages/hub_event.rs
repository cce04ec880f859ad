//! What connection tasks, the relay handle and the cluster module tell the hub.

use std::time::Duration;

use confidant_proto::{ChatNumber, ClientFrame};
use tokio::sync::oneshot;

use super::cluster_event::ClusterEvent;
use super::command_channel::CommandSender;
use crate::chat_features::ChatFeatures;
use crate::credentials::VerifiedPeer;
use crate::data_path::Outbox;
use crate::stats::RelayStats;

/// A connection's handle, unique for the relay's life. Also its matcher handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnId(pub(crate) u64);

/// What connection tasks and the relay handle tell the hub.
#[derive(Debug)]
pub(crate) enum HubEvent {
    /// A WebSocket opened.
    Connected {
        conn: ConnId,
        outbox: Outbox,
        commands: CommandSender,
    },
    /// A seeker said `hello`.
    SeekerJoined {
        conn: ConnId,
        program: String,
        chat_features: ChatFeatures,
        /// The connection agreed on feature `queue-none`: `queued` may carry `none`.
        queue_none: bool,
        /// The connection agreed on feature `resume`.
        resume: bool,
    },
    /// A peer proved its credential.
    PeerVerified {
        conn: ConnId,
        program: String,
        peer: Box<VerifiedPeer>,
        chat_features: ChatFeatures,
        /// The connection agreed on feature `resume`.
        resume: bool,
        /// The connection agreed on feature `urgency`: its offers may say `urgent`.
        urgency: bool,
    },
    /// A matching or chat control frame the connection's state admitted.
    Frame { conn: ConnId, frame: ClientFrame },
    /// The partner of `chat` on `conn` has its buffer full.
    SlowReader { conn: ConnId, chat: ChatNumber },
    /// The connection ended (its socket closed, or its resume window closed).
    Disconnected { conn: ConnId },
    /// Feature `resume`: the connection's socket was lost; its grace window runs.
    Away { conn: ConnId },
    /// Feature `resume`: a new socket took the away connection over.
    Back { conn: ConnId },
    /// A newer revocation list was stored for `program`: re-check its peers.
    RevocationUpdated { program: String },
    /// The operator changed the limits: refresh the matcher's copy.
    LimitsUpdated,
    /// The operator changed a program's description; the matcher needs its wait limit.
    ProgramUpdated {
        program: String,
        wait_limit: Duration,
    },
    /// Shutdown begins: tell every client the deadline.
    ShutdownNotice { deadline: Duration },
    /// Shutdown deadline reached: end every chat and close every connection.
    CloseAll,
    /// Aggregate figures.
    Stats(oneshot::Sender<RelayStats>),
    /// Scale-out: from the cluster module (`hub/remote.rs`).
    Cluster(ClusterEvent),
}
