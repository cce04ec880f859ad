//! The hub: one actor task per relay that owns the matcher, the registry of connections and
//! the table of chats. Connection tasks send it events; it answers with frames queued on
//! their outboxes and with route commands.
//!
//! Why an actor and not `DashMap`s: matching is a global decision over a program's queue and
//! all its peers' capacity; with shared maps every event would need several locks taken in
//! a careful order, and timeouts would race with accepts. One task owning all of it makes
//! every rule a sequential, testable step (the matcher itself is I/O-free). The data path
//! does *not* go through the hub: forwarding is connection task → partner outbox, guarded
//! only by the chat's own small lock (`chat_link.rs`), so the hub's event rate is the
//! control-frame rate, not the message rate. All of this is memory only: nothing is written
//! to disk and nothing outlives the process.

mod apply;
mod away;
mod chats;
mod remote;

use std::collections::HashMap;
use std::sync::Arc;

use confidant_proto::{
    ChatEndReason, ChatNumber, ClientFrame, ErrorCode, RelayFrame, SeekPreferences,
};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use crate::chat_features::ChatFeatures;
use crate::credentials::{VerifiedPeer, still_valid};
use crate::data_path::Outbox;
use crate::messages::command_channel::CommandSender;
use crate::messages::{ConnCommand, ConnId, HubEvent};
use crate::shared::Shared;
use crate::stats::RelayStats;
use chats::{Chat, ChatId};
use confidant_matcher::{MatchConfig, MatchError, Matcher, PeerAvailability, PeerId, SeekerId};

/// What the hub knows about a connection.
struct ConnEntry {
    outbox: Outbox,
    commands: CommandSender,
    kind: ConnKind,
    /// Next chat number on this connection; numbers are never reused.
    next_chat: u32,
    chats: HashMap<ChatNumber, ChatId>,
    /// What the connection's `hello` said about chat features.
    chat_features: ChatFeatures,
    /// A seeker that agreed on feature `queue-none`: its `queued` frames carry `none`.
    queue_none: bool,
    /// The connection agreed on feature `resume`: it is told `partner_away` / `partner_back`.
    resume: bool,
    /// A peer that agreed on feature `urgency`: its offers say `urgent`.
    urgency: bool,
}

enum ConnKind {
    /// Before `hello` (or a peer before its proof).
    Pending,
    Seeker {
        program: String,
    },
    Peer {
        program: String,
        peer: Box<VerifiedPeer>,
    },
}

impl ConnEntry {
    fn allocate_chat(&mut self) -> ChatNumber {
        let chat = ChatNumber(self.next_chat);
        self.next_chat = self.next_chat.saturating_add(1);
        chat
    }

    fn send(&self, frame: &RelayFrame) {
        self.outbox.control(frame);
    }

    fn command(&self, command: ConnCommand) {
        // A closed channel means the task already ended; its `Disconnected` is on the way.
        let _ = self.commands.send(command);
    }
}

/// The hub actor.
pub(crate) struct Hub {
    shared: Arc<Shared>,
    matcher: Matcher,
    conns: HashMap<ConnId, ConnEntry>,
    chats: HashMap<ChatId, Chat>,
    next_chat_id: u64,
    /// Active chat count, watched by shutdown to stop waiting early.
    chat_count: watch::Sender<usize>,
    /// When each waiting seeker sent `seek`, for the wait-time histogram only.
    seek_started: HashMap<ConnId, Instant>,
}

impl Hub {
    /// A hub for `shared`'s programs.
    pub(crate) fn new(shared: Arc<Shared>, chat_count: watch::Sender<usize>) -> Self {
        let mut matcher = Matcher::new(match_config(&shared));
        for program in shared.programs() {
            matcher.add_program(&program.id, program.wait_limit);
        }
        Self {
            shared,
            matcher,
            conns: HashMap::new(),
            chats: HashMap::new(),
            next_chat_id: 1,
            chat_count,
            seek_started: HashMap::new(),
        }
    }

    /// Runs until every sender of `events` is gone or `stop` fires.
    pub(crate) async fn run(
        mut self,
        mut events: mpsc::Receiver<HubEvent>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                event = events.recv() => match event {
                    Some(event) => self.handle(event),
                    None => break,
                },
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.on_timer(Instant::now());
                }
            }
            self.chat_count.send_replace(self.chats.len());
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let matcher = self.matcher.next_deadline().map(Instant::from_std);
        let chats = self.chats_next_deadline();
        match (matcher, chats) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_timer(&mut self, now: Instant) {
        let actions = self.matcher.tick(now.into_std());
        self.apply(actions);
        self.expire_chats(now);
    }

    fn handle(&mut self, event: HubEvent) {
        let now = Instant::now();
        match event {
            HubEvent::Connected {
                conn,
                outbox,
                commands,
            } => {
                self.conns.insert(
                    conn,
                    ConnEntry {
                        outbox,
                        commands,
                        kind: ConnKind::Pending,
                        next_chat: 1,
                        chats: HashMap::new(),
                        chat_features: ChatFeatures::default(),
                        queue_none: false,
                        resume: false,
                        urgency: false,
                    },
                );
            }
            HubEvent::SeekerJoined {
                conn,
                program,
                chat_features,
                queue_none,
                resume,
            } => {
                if let Err(error) = self.matcher.seeker_joined(SeekerId(conn.0), &program) {
                    self.refuse(conn, error);
                } else if let Some(entry) = self.conns.get_mut(&conn) {
                    entry.kind = ConnKind::Seeker { program };
                    entry.chat_features = chat_features;
                    entry.queue_none = queue_none;
                    entry.resume = resume;
                }
            }
            HubEvent::PeerVerified {
                conn,
                program,
                peer,
                chat_features,
                resume,
                urgency,
            } => {
                if let Some(entry) = self.conns.get_mut(&conn) {
                    entry.chat_features = chat_features;
                    entry.resume = resume;
                    entry.urgency = urgency;
                }
                self.peer_verified(conn, program, peer, now);
            }
            HubEvent::Frame { conn, frame } => self.on_frame(conn, frame, now),
            HubEvent::SlowReader { conn, chat } => {
                if let Some(chat_id) = self.chat_of(conn, chat) {
                    self.end_chat(
                        chat_id,
                        ChatEndReason::SlowReader,
                        ChatEndReason::SlowReader,
                    );
                }
            }
            HubEvent::Disconnected { conn } => self.disconnected(conn, now),
            HubEvent::Away { conn } => self.away(conn, true, now),
            HubEvent::Back { conn } => self.away(conn, false, now),
            HubEvent::RevocationUpdated { program } => self.sweep_revoked(&program),
            HubEvent::LimitsUpdated => self.matcher.set_config(match_config(&self.shared)),
            HubEvent::ProgramUpdated {
                program,
                wait_limit,
            } => self.matcher.set_wait_limit(&program, wait_limit),
            HubEvent::ShutdownNotice { deadline } => {
                self.matcher.stop_offering();
                let deadline_ms = u32::try_from(deadline.as_millis()).unwrap_or(u32::MAX);
                for entry in self.conns.values() {
                    entry.send(&RelayFrame::Shutdown { deadline_ms });
                }
            }
            HubEvent::CloseAll => self.close_all(),
            HubEvent::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
            HubEvent::Cluster(event) => self.on_cluster(event, now),
        }
    }

    fn on_frame(&mut self, conn: ConnId, frame: ClientFrame, now: Instant) {
        let std_now = now.into_std();
        let result = match frame {
            ClientFrame::Seek {
                preferences,
                urgent,
            } => match self.check_preferences(conn, &preferences) {
                Ok(()) => {
                    self.seek_started.insert(conn, now);
                    if urgent {
                        metrics::counter!(crate::metrics::URGENT_SEEKS).increment(1);
                    }
                    self.matcher
                        .seek_with(SeekerId(conn.0), preferences, urgent, std_now)
                }
                Err(code) => {
                    self.send_error(conn, code);
                    return;
                }
            },
            ClientFrame::Cancel {} => self.matcher.cancel(SeekerId(conn.0), std_now),
            ClientFrame::SetAvailability {
                status,
                capacity,
                topics,
                languages,
                auto_accept,
            } => {
                if let Err(code) = self.check_offered(conn, &topics, &languages) {
                    self.send_error(conn, code);
                    return;
                }
                let availability = PeerAvailability {
                    status,
                    capacity,
                    topics,
                    languages,
                    auto_accept,
                };
                self.matcher
                    .set_availability(PeerId(conn.0), availability, std_now)
            }
            ClientFrame::Accept { offer } => self.matcher.accept(PeerId(conn.0), offer, std_now),
            ClientFrame::Decline { offer } => self.matcher.decline(PeerId(conn.0), offer, std_now),
            ClientFrame::End { chat } => {
                match self.chat_of(conn, chat) {
                    Some(chat_id) => self.end_by(chat_id, conn, false),
                    None => self.send_error(conn, ErrorCode::UnknownChat),
                }
                return;
            }
            ClientFrame::Pass { chat } => {
                match self.chat_of(conn, chat) {
                    Some(chat_id) => self.pass_by(chat_id, conn),
                    None => self.send_error(conn, ErrorCode::UnknownChat),
                }
                return;
            }
            ClientFrame::Block { chat } => {
                match self.chat_of(conn, chat) {
                    Some(chat_id) => self.end_by(chat_id, conn, true),
                    None => self.send_error(conn, ErrorCode::UnknownChat),
                }
                return;
            }
            // The connection's state machine keeps these away from the hub.
            ClientFrame::Hello { .. }
            | ClientFrame::Present { .. }
            | ClientFrame::Prove { .. }
            | ClientFrame::Resume { .. }
            | ClientFrame::Ack { .. } => Err(MatchError::UnknownParty),
        };
        match result {
            Ok(actions) => self.apply(actions),
            Err(error) => self.refuse(conn, error),
        }
    }

    /// A seeker may only ask for what its program offers, or it would wait forever.
    fn check_preferences(
        &self,
        conn: ConnId,
        preferences: &SeekPreferences,
    ) -> Result<(), ErrorCode> {
        let Some(ConnKind::Seeker { program }) = self.conns.get(&conn).map(|e| &e.kind) else {
            return Err(ErrorCode::InternalError);
        };
        let Some(config) = self.shared.program(program) else {
            return Err(ErrorCode::InternalError);
        };
        let offered = |wanted: &Option<String>, list: &[String]| {
            wanted
                .as_ref()
                .is_none_or(|tag| list.is_empty() || list.contains(tag))
        };
        if offered(&preferences.topic, &config.topics)
            && offered(&preferences.language, &config.languages)
            && offered(&preferences.peer_role, &config.peer_roles)
        {
            Ok(())
        } else {
            Err(ErrorCode::InvalidField)
        }
    }

    /// A peer offers only topics and languages of its program's lists (an empty program
    /// list allows any tag), as a seeker may only ask for them: `invalid_field` otherwise.
    fn check_offered(
        &self,
        conn: ConnId,
        topics: &[String],
        languages: &[String],
    ) -> Result<(), ErrorCode> {
        let Some(ConnKind::Peer { program, .. }) = self.conns.get(&conn).map(|e| &e.kind) else {
            return Err(ErrorCode::InternalError);
        };
        let Some(config) = self.shared.program(program) else {
            return Err(ErrorCode::InternalError);
        };
        let within = |tags: &[String], list: &[String]| {
            list.is_empty() || tags.iter().all(|tag| list.contains(tag))
        };
        if within(topics, &config.topics) && within(languages, &config.languages) {
            Ok(())
        } else {
            Err(ErrorCode::InvalidField)
        }
    }

    fn peer_verified(
        &mut self,
        conn: ConnId,
        program: String,
        peer: Box<VerifiedPeer>,
        now: Instant,
    ) {
        // The list may have moved on between `present` and `prove`.
        let valid = self.shared.program(&program).is_some_and(|config| {
            still_valid(
                &config,
                &self.shared.store,
                self.shared.clock.now_unix(),
                &peer,
            )
        });
        if !valid {
            self.send_error(conn, ErrorCode::CredentialRevoked);
            return;
        }
        let profile = peer.profile.clone();
        if let Err(error) =
            self.matcher
                .peer_joined(PeerId(conn.0), &program, profile, now.into_std())
        {
            self.refuse(conn, error);
            return;
        }
        if let Some(entry) = self.conns.get_mut(&conn) {
            entry.kind = ConnKind::Peer { program, peer };
        }
    }

    fn disconnected(&mut self, conn: ConnId, now: Instant) {
        self.seek_started.remove(&conn);
        let Some(entry) = self.conns.get(&conn) else {
            return;
        };
        let chat_ids: Vec<ChatId> = entry.chats.values().copied().collect();
        // The matcher forgets the leaver first: ending its chats below frees its capacity,
        // and a matcher that still knew the peer would hand it the next queued seeker — a
        // `matched` with a connection that is gone, and a chat left in the table.
        let actions = match &entry.kind {
            ConnKind::Seeker { .. } => self.matcher.seeker_left(SeekerId(conn.0), now.into_std()),
            ConnKind::Peer { .. } => self.matcher.peer_left(PeerId(conn.0), now.into_std()),
            ConnKind::Pending => Vec::new(),
        };
        for chat_id in chat_ids {
            // The leaver is gone; only the partner hears the reason.
            self.end_chat(
                chat_id,
                ChatEndReason::PartnerLeft,
                ChatEndReason::PartnerLeft,
            );
        }
        self.conns.remove(&conn);
        self.apply(actions);
    }

    /// Re-checks every peer of `program` against its newest revocation list.
    fn sweep_revoked(&mut self, program: &str) {
        let Some(config) = self.shared.program(program) else {
            return;
        };
        let config = &*config;
        let now_unix = self.shared.clock.now_unix();
        let revoked: Vec<ConnId> = self
            .conns
            .iter()
            .filter_map(|(conn, entry)| match &entry.kind {
                ConnKind::Peer { program: p, peer }
                    if p == program && !still_valid(config, &self.shared.store, now_unix, peer) =>
                {
                    Some(*conn)
                }
                _ => None,
            })
            .collect();
        for conn in revoked {
            tracing::info!(kind = "credential_revoked", "peer taken offline");
            metrics::counter!(crate::metrics::PEERS_REVOKED).increment(1);
            let chat_ids: Vec<ChatId> = self
                .conns
                .get(&conn)
                .map(|e| e.chats.values().copied().collect())
                .unwrap_or_default();
            // Out of the matcher before its chats end (which frees its capacity): a revoked
            // peer must not be handed the next queued seeker on its way out.
            let actions = self
                .matcher
                .peer_left(PeerId(conn.0), Instant::now().into_std());
            for chat_id in chat_ids {
                self.end_chat(chat_id, ChatEndReason::Revoked, ChatEndReason::Revoked);
            }
            self.send_error(conn, ErrorCode::CredentialRevoked);
            if let Some(entry) = self.conns.remove(&conn) {
                entry.command(ConnCommand::Terminate);
            }
            self.apply(actions);
        }
    }

    fn close_all(&mut self) {
        let chat_ids: Vec<ChatId> = self.chats.keys().copied().collect();
        for chat_id in chat_ids {
            self.end_chat(chat_id, ChatEndReason::Shutdown, ChatEndReason::Shutdown);
        }
        for entry in self.conns.values() {
            entry.outbox.error(ErrorCode::ShuttingDown);
            entry.command(ConnCommand::Terminate);
        }
    }

    fn refuse(&self, conn: ConnId, error: MatchError) {
        self.send_error(conn, error.code());
    }

    /// Queues an error; a fatal one also stops the connection's reader.
    fn send_error(&self, conn: ConnId, code: ErrorCode) {
        if let Some(entry) = self.conns.get(&conn) {
            crate::metrics::rejection(code);
            entry.outbox.error(code);
            if code.is_fatal() {
                entry.command(ConnCommand::Terminate);
            }
        }
    }

    fn stats(&self) -> RelayStats {
        let matching = self.matcher.stats();
        RelayStats {
            connections: self
                .shared
                .live_connections
                .load(std::sync::atomic::Ordering::Acquire),
            registered_connections: self.conns.len(),
            queued_seekers: matching.queued_seekers,
            available_peers: matching.available_peers,
            open_offers: matching.open_offers,
            active_chats: self.chats.len(),
            capacity_in_use: matching.active_chats,
        }
    }
}

fn match_config(shared: &Shared) -> MatchConfig {
    let limits = shared.limits();
    MatchConfig {
        offer_timeout: limits.offer_timeout,
        max_queue: limits.max_queue,
    }
}
