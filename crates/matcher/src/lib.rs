//! The matching core: queues, offers, capacity and timeouts, with no I/O at all.
//!
//! Events go in as method calls carrying `now`; [`Action`]s come out in the order they must
//! be carried out. Nothing here reads a clock, spawns a task or touches a socket, so every
//! rule is unit-tested deterministically (see `tests.rs`), in the quinn-proto manner.
//!
//! Fairness: per program one FIFO queue. Whenever anything changes, the queue is walked from
//! its head and each waiting seeker without an open offer is offered to *one* fitting peer
//! with free capacity, the least loaded first and, among equals, the one idle longest. A
//! seeker whose preferences fit nobody does not block those behind it. A seeker is never
//! offered again to a peer that declined it or blocked this seeker's connection, nor to a
//! peer whose chat the seeker's client ended before its first data frame
//! ([`Matcher::exclude`]): that is how a seeker's client skips a peer of its own department
//! without telling the relay why. A chat that ran excludes nobody. A lapsed offer is not a
//! refusal: that peer comes after every other fitting peer for this seeker, and is offered
//! it again at once if nobody else can take it; a peer that lets [`LAPSES_BEFORE_AWAY`]
//! offers in a row lapse is set away (it is not at the console).
//!
//! Multi-node: parties are opaque handles and offers are plain messages ([`Action::Offer`],
//! `accept`, `decline`), so a broker can later carry offers to peers on another node, each
//! node staying authoritative for its own peers' capacity and its own seekers' queue.
//!
//! Cost: a dispatch walks queue × peers of one program. Programs are small (tens of peers);
//! an index by tag is the obvious next step if that ever shows in a profile.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod action;
mod estimate;
#[cfg(test)]
mod estimate_simulation;
mod handles;
mod peer;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use confidant_proto::limits::URGENT_HEAD_START;
use confidant_proto::{
    Availability, ErrorCode, NoPeerReason, OfferWithdrawnReason, QueueNone, SeekPreferences,
};
use thiserror::Error;

pub use action::Action;
pub use estimate::WaitEstimator;
pub use handles::{OfferKey, PeerId, SeekerId};
use peer::{OpenOffer, PeerRecord};
pub use peer::{PeerAvailability, PeerProfile};

/// Offers in a row a peer may let lapse before the relay sets it away, telling it with
/// `availability_set`: a peer who stepped away from the console would otherwise be offered
/// every waiting seeker in turn, each waiting out the offer timeout beside an "available"
/// peer (contact centres call this redirect on no answer).
pub const LAPSES_BEFORE_AWAY: u32 = 2;

/// Settings the matcher needs; the relay fills them from its limits.
#[derive(Clone, Debug)]
pub struct MatchConfig {
    /// How long a peer has to answer an offer.
    pub offer_timeout: Duration,
    /// Most seekers waiting per program; more get `no_peer{queue_full}`.
    pub max_queue: usize,
}

/// Why the matcher refused an event. Each variant is one wire code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum MatchError {
    /// The program is not hosted.
    #[error("unknown program")]
    UnknownProgram,
    /// The handle is not (or no longer) registered: a driver bug, not a client error.
    #[error("unknown party")]
    UnknownParty,
    /// `seek` while queued or chatting.
    #[error("already seeking")]
    AlreadySeeking,
    /// `accept`/`decline` for an offer that is not open.
    #[error("unknown offer")]
    UnknownOffer,
    /// `accept` with no free capacity.
    #[error("no free capacity")]
    NotAvailable,
    /// Capacity 0 while available.
    #[error("capacity must be at least 1")]
    InvalidCapacity,
}

impl MatchError {
    /// The catalogue entry for this refusal.
    pub fn code(self) -> ErrorCode {
        match self {
            Self::UnknownProgram => ErrorCode::UnknownProgram,
            Self::UnknownParty => ErrorCode::InternalError,
            Self::AlreadySeeking => ErrorCode::AlreadySeeking,
            Self::UnknownOffer => ErrorCode::UnknownOffer,
            Self::NotAvailable => ErrorCode::NotAvailable,
            Self::InvalidCapacity => ErrorCode::InvalidField,
        }
    }
}

/// Aggregate figures, no identifiers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatchStats {
    /// Seekers waiting in all queues.
    pub queued_seekers: usize,
    /// Peers with status available.
    pub available_peers: usize,
    /// Offers waiting for an answer.
    pub open_offers: usize,
    /// Chats the matcher counts against capacity.
    pub active_chats: usize,
}

struct ProgramState {
    wait_limit: Duration,
    queue: VecDeque<SeekerId>,
    estimator: WaitEstimator,
    /// Scale-out: other nodes' queue heads (when their longest-waiting seeker without an
    /// open offer started waiting, on this node's clock), by node.
    remote_heads: HashMap<String, RemoteHead>,
    /// Scale-out: how long a freed local slot is held for an older remote head.
    hold: Duration,
    /// Scale-out: a freed local slot is held for an older remote head until then.
    hold_until: Option<Instant>,
}

/// Another node's queue head as last heard (scale-out fairness).
#[derive(Clone, Copy, Debug)]
struct RemoteHead {
    /// When that head started waiting: the receiving instant minus the age it was sent
    /// with, so the two nodes' clocks never need to agree.
    since: Instant,
    /// Heard too long ago past this: ignored (its node stopped sending presence).
    valid_until: Instant,
}

struct SeekerRecord {
    program: String,
    state: SeekerState,
    /// Peers never to be offered this seeker's connection again.
    excluded: HashSet<PeerId>,
    /// Peers that let an offer of this seeker lapse, and how often: not excluded (a missed
    /// offer is not a refusal), but offered this seeker only after every other fitting peer
    /// had its turn.
    lapsed: HashMap<PeerId, u32>,
    /// A seeker waiting on another node, offered here to one peer (`remote_offer`): never in
    /// a queue; when its offer ends without a match it is told `Cancelled` (scale-out).
    remote: bool,
    /// Feature `resume`: the seeker's socket is lost and its grace window runs. It keeps its
    /// place and its chat but is not offered (`Matcher::seeker_away`).
    away: bool,
}

/// How an offer ended without a match.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Release {
    /// The peer declined: never again for this seeker.
    Declined,
    /// The peer let it time out: again, after the others.
    Lapsed,
}

enum SeekerState {
    Idle,
    Waiting(Waiting),
    /// In a chat; keeps the wait it came from, so a `pass` (the seeker refused the peer
    /// before msg1) puts the seeker back where it stood.
    Chatting(Box<Waiting>),
}

struct Waiting {
    preferences: SeekPreferences,
    since: Instant,
    /// Where the seeker stands in the queue: `since`, or for an urgent seeker (feature
    /// `urgency`) [`URGENT_HEAD_START`] earlier.
    rank: Instant,
    /// The seeker said it needs to talk soon; its offers say so.
    urgent: bool,
    deadline: Instant,
    offer: Option<OfferKey>,
    last_sent: Option<QueueFigures>,
}

/// What a `queued` update says: position, peers online, estimate, and why nobody can take
/// the seeker (if so). Sent again only when it changes.
type QueueFigures = (u32, u32, Option<u32>, Option<QueueNone>);

/// The matching state of every program of one relay (or, later, one node).
pub struct Matcher {
    config: MatchConfig,
    programs: HashMap<String, ProgramState>,
    seekers: HashMap<SeekerId, SeekerRecord>,
    // BTreeMap: iteration order is part of the fairness tie-break, so keep it deterministic.
    peers: BTreeMap<PeerId, PeerRecord>,
    /// The relay is draining: no new offer is made (offers already open may be answered).
    draining: bool,
}

impl Matcher {
    /// An empty matcher.
    pub fn new(config: MatchConfig) -> Self {
        Self {
            config,
            programs: HashMap::new(),
            seekers: HashMap::new(),
            peers: BTreeMap::new(),
            draining: false,
        }
    }

    /// The relay is shutting down: from now on no seeker is offered to anyone, so no chat
    /// starts that the deadline would cut (`proto/spec.md`, `shutdown`). Seekers stay queued
    /// until the close; their clients were told to go elsewhere.
    pub fn stop_offering(&mut self) {
        self.draining = true;
    }

    /// Replaces the offer timeout and queue cap (for offers and seekers from now on).
    pub fn set_config(&mut self, config: MatchConfig) {
        self.config = config;
    }

    /// Changes a program's wait limit for seekers who start waiting from now on.
    pub fn set_wait_limit(&mut self, program: &str, wait_limit: Duration) {
        if let Some(state) = self.programs.get_mut(program) {
            state.wait_limit = wait_limit;
        }
    }

    /// Hosts a program; matching never crosses programs.
    pub fn add_program(&mut self, program: &str, wait_limit: Duration) {
        self.programs.insert(
            program.to_owned(),
            ProgramState {
                wait_limit,
                queue: VecDeque::new(),
                estimator: WaitEstimator::default(),
                remote_heads: HashMap::new(),
                hold: Duration::ZERO,
                hold_until: None,
            },
        );
    }

    /// A seeker connection said `hello`.
    pub fn seeker_joined(&mut self, seeker: SeekerId, program: &str) -> Result<(), MatchError> {
        if !self.programs.contains_key(program) {
            return Err(MatchError::UnknownProgram);
        }
        self.seekers.insert(
            seeker,
            SeekerRecord {
                program: program.to_owned(),
                state: SeekerState::Idle,
                excluded: HashSet::new(),
                lapsed: HashMap::new(),
                remote: false,
                away: false,
            },
        );
        Ok(())
    }

    /// A peer connection proved its credential.
    pub fn peer_joined(
        &mut self,
        peer: PeerId,
        program: &str,
        profile: PeerProfile,
        now: Instant,
    ) -> Result<(), MatchError> {
        if !self.programs.contains_key(program) {
            return Err(MatchError::UnknownProgram);
        }
        self.peers
            .insert(peer, PeerRecord::new(program.to_owned(), profile, now));
        Ok(())
    }

    /// `seek`: join the program's queue. Always answers with a first `Queued` (or `NoPeer`).
    pub fn seek(
        &mut self,
        seeker: SeekerId,
        preferences: SeekPreferences,
        now: Instant,
    ) -> Result<Vec<Action>, MatchError> {
        self.seek_with(seeker, preferences, false, now)
    }

    /// `seek`, possibly urgent (feature `urgency`): an urgent seeker is placed as if it had
    /// sought [`URGENT_HEAD_START`] earlier — before everyone who sought less than that
    /// before it, never before anyone who has waited that long. Its wait limit counts from
    /// now, as for everyone.
    pub fn seek_with(
        &mut self,
        seeker: SeekerId,
        preferences: SeekPreferences,
        urgent: bool,
        now: Instant,
    ) -> Result<Vec<Action>, MatchError> {
        let record = self
            .seekers
            .get_mut(&seeker)
            .ok_or(MatchError::UnknownParty)?;
        if !matches!(record.state, SeekerState::Idle) {
            return Err(MatchError::AlreadySeeking);
        }
        let program_id = record.program.clone();
        let program = self
            .programs
            .get_mut(&program_id)
            .ok_or(MatchError::UnknownProgram)?;
        if program.queue.len() >= self.config.max_queue {
            return Ok(vec![Action::NoPeer {
                seeker,
                reason: NoPeerReason::QueueFull,
            }]);
        }
        let rank = if urgent {
            now.checked_sub(URGENT_HEAD_START).unwrap_or(now)
        } else {
            now
        };
        record.state = SeekerState::Waiting(Waiting {
            preferences,
            since: now,
            rank,
            urgent,
            deadline: now + program.wait_limit,
            offer: None,
            last_sent: None,
        });
        // Before the first seeker that ranks later (for a non-urgent seeker: nobody, so the
        // back of the queue).
        let place = program
            .queue
            .iter()
            .position(|other| match self.seekers.get(other).map(|r| &r.state) {
                Some(SeekerState::Waiting(waiting)) => waiting.rank > rank,
                _ => false,
            })
            .unwrap_or(program.queue.len());
        program.queue.insert(place, seeker);
        let mut actions = Vec::new();
        // The first `queued` comes before any offer, so clients always see it.
        self.refresh_queued(&program_id, &mut actions);
        self.settle(&program_id, now, &mut actions);
        Ok(actions)
    }

    /// `cancel`: leave the queue. A seeker that is not queued (its `cancel` crossed a
    /// `matched` or `no_peer`) gets nothing: the spec says such a `cancel` is ignored.
    pub fn cancel(&mut self, seeker: SeekerId, now: Instant) -> Result<Vec<Action>, MatchError> {
        let record = self
            .seekers
            .get_mut(&seeker)
            .ok_or(MatchError::UnknownParty)?;
        let program_id = record.program.clone();
        let mut actions = Vec::new();
        match record.state {
            SeekerState::Idle | SeekerState::Chatting(_) => {}
            SeekerState::Waiting(_) => {
                self.leave_queue(seeker, OfferWithdrawnReason::SeekerLeft, &mut actions);
                actions.push(Action::Cancelled { seeker });
                self.settle(&program_id, now, &mut actions);
            }
        }
        Ok(actions)
    }

    /// The seeker's connection is gone. The driver ends its chat first ([`Self::chat_ended`]).
    pub fn seeker_left(&mut self, seeker: SeekerId, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(record) = self.seekers.get(&seeker) else {
            return actions;
        };
        let program_id = record.program.clone();
        self.leave_queue(seeker, OfferWithdrawnReason::SeekerLeft, &mut actions);
        self.seekers.remove(&seeker);
        self.settle(&program_id, now, &mut actions);
        actions
    }

    /// `set_availability` from a verified peer.
    pub fn set_availability(
        &mut self,
        peer: PeerId,
        availability: PeerAvailability,
        now: Instant,
    ) -> Result<Vec<Action>, MatchError> {
        if availability.capacity == 0 {
            return Err(MatchError::InvalidCapacity);
        }
        let record = self.peers.get_mut(&peer).ok_or(MatchError::UnknownParty)?;
        record.availability = availability;
        record.missed_in_a_row = 0;
        let mut actions = vec![Action::AvailabilitySet {
            peer,
            status: record.availability.status,
            capacity: record.availability.capacity,
            active_chats: record.active_chats,
        }];
        let program_id = record.program.clone();
        self.settle(&program_id, now, &mut actions);
        Ok(actions)
    }

    /// The peer's connection is gone (or its credential revoked). The driver ends its chats
    /// first; offers it held go back to their seekers, who stay in place in the queue.
    pub fn peer_left(&mut self, peer: PeerId, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(record) = self.peers.remove(&peer) else {
            return actions;
        };
        for offer in record.offers.values() {
            if let Some(waiting) = self.waiting_mut(offer.seeker) {
                waiting.offer = None;
            }
            if let Some(seeker) = self.seekers.get_mut(&offer.seeker)
                && seeker.remote
                && matches!(seeker.state, SeekerState::Waiting(_))
            {
                seeker.state = SeekerState::Idle;
                actions.push(Action::Cancelled {
                    seeker: offer.seeker,
                });
            }
        }
        self.settle(&record.program, now, &mut actions);
        actions
    }

    /// Feature `resume`: the seeker's socket was lost (`away`) or a new one took its
    /// connection over (`!away`). While away the seeker keeps its place in the queue (and its
    /// chat, if it has one) but is not offered — a peer would accept a chat nobody can join:
    /// an open offer is withdrawn (`seeker_left`, not counted against the peer). Back, it is
    /// offered again, still ahead of everyone who started waiting after it. Its wait limit
    /// runs on meanwhile.
    pub fn seeker_away(&mut self, seeker: SeekerId, away: bool, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(record) = self.seekers.get_mut(&seeker) else {
            return actions;
        };
        record.away = away;
        let program_id = record.program.clone();
        if away
            && let SeekerState::Waiting(waiting) = &mut record.state
            && let Some(offer) = waiting.offer.take()
            && let Some(peer) = self.peers.get_mut(&offer.peer)
            && peer.offers.remove(&offer.number).is_some()
        {
            actions.push(Action::OfferWithdrawn {
                offer,
                reason: OfferWithdrawnReason::SeekerLeft,
            });
        }
        self.settle(&program_id, now, &mut actions);
        actions
    }

    /// Feature `resume`: the peer's socket was lost (`away`) or a new one took its
    /// connection over (`!away`). While away the peer keeps its chats and its availability
    /// setting, but nothing is offered to it: its open offers lapse at once (a lapse, not a
    /// decline: each seeker goes to the next fitting peer and may be offered this one again
    /// later) and it counts as neither available nor online. Back, it is offered again.
    pub fn peer_away(&mut self, peer: PeerId, away: bool, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(record) = self.peers.get_mut(&peer) else {
            return actions;
        };
        record.away = away;
        let program_id = record.program.clone();
        let lapsed: Vec<(u32, SeekerId)> = if away {
            std::mem::take(&mut record.offers)
                .into_iter()
                .map(|(number, open)| (number, open.seeker))
                .collect()
        } else {
            Vec::new()
        };
        for (number, seeker) in lapsed {
            actions.push(Action::OfferWithdrawn {
                offer: OfferKey { peer, number },
                reason: OfferWithdrawnReason::Timeout,
            });
            actions.extend(self.release_offer(seeker, peer, Release::Lapsed));
        }
        self.settle(&program_id, now, &mut actions);
        actions
    }

    /// `accept`: the offer becomes a match.
    pub fn accept(
        &mut self,
        peer: PeerId,
        number: u32,
        now: Instant,
    ) -> Result<Vec<Action>, MatchError> {
        let record = self.peers.get(&peer).ok_or(MatchError::UnknownParty)?;
        if !record.offers.contains_key(&number) {
            return Err(MatchError::UnknownOffer);
        }
        if record.active_chats >= record.availability.capacity {
            return Err(MatchError::NotAvailable);
        }
        let program_id = record.program.clone();
        let mut actions = Vec::new();
        let offer = OfferKey { peer, number };
        if let Some(open) = self.peers.get_mut(&peer).and_then(|p| {
            p.missed_in_a_row = 0;
            p.offers.remove(&number)
        }) {
            self.make_match(offer, open.seeker, now, &mut actions);
        }
        self.settle(&program_id, now, &mut actions);
        Ok(actions)
    }

    /// `decline`: the seeker goes to the next fitting peer, never back to this one.
    pub fn decline(
        &mut self,
        peer: PeerId,
        number: u32,
        now: Instant,
    ) -> Result<Vec<Action>, MatchError> {
        let record = self.peers.get_mut(&peer).ok_or(MatchError::UnknownParty)?;
        let open = record
            .offers
            .remove(&number)
            .ok_or(MatchError::UnknownOffer)?;
        record.missed_in_a_row = 0;
        let program_id = record.program.clone();
        let mut actions: Vec<Action> = self
            .release_offer(open.seeker, peer, Release::Declined)
            .into_iter()
            .collect();
        self.settle(&program_id, now, &mut actions);
        Ok(actions)
    }

    /// This seeker's connection is never offered to `peer` again: the peer blocked it, or
    /// the seeker's client ended the chat before its first data frame (it refused the peer's
    /// credential or department without saying why). A chat that ran and ended excludes
    /// nobody: the seeker may meet the same peer again (`proto/spec.md`, "Offers").
    pub fn exclude(&mut self, seeker: SeekerId, peer: PeerId) {
        if let Some(record) = self.seekers.get_mut(&seeker) {
            record.excluded.insert(peer);
        }
    }

    /// `pass` (feature `pass`): the seeker's client refused `peer` before its first data frame
    /// and the relay ended that chat. The peer is excluded for this seeker, as after an `end`
    /// before msg1, and the seeker goes back to the queue as it stood before the match: the
    /// same preferences, the same seek time (so the same place among those still waiting)
    /// and the same wait limit. The peer's capacity is freed. Returns the actions (a fresh
    /// `Queued` for the seeker among them); a seeker that is not in a chat only gets the
    /// exclusion (the driver checked the chat, so that would be a driver bug).
    pub fn pass(&mut self, seeker: SeekerId, peer: PeerId, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut requeued: Option<(String, Instant)> = None;
        if let Some(record) = self.seekers.get_mut(&seeker) {
            record.excluded.insert(peer);
            if !record.remote
                && let SeekerState::Chatting(waiting) =
                    std::mem::replace(&mut record.state, SeekerState::Idle)
            {
                let mut waiting = *waiting;
                waiting.offer = None;
                waiting.last_sent = None;
                requeued = Some((record.program.clone(), waiting.rank));
                record.state = SeekerState::Waiting(waiting);
            }
        }
        if let Some((program_id, since)) = &requeued {
            // Before the first seeker who started waiting later: the place it held.
            let place = self.programs.get(program_id).map(|program| {
                program
                    .queue
                    .iter()
                    .position(|other| match self.seekers.get(other).map(|r| &r.state) {
                        Some(SeekerState::Waiting(waiting)) => waiting.rank > *since,
                        _ => false,
                    })
                    .unwrap_or(program.queue.len())
            });
            if let (Some(place), Some(program)) = (place, self.programs.get_mut(program_id)) {
                program.queue.insert(place, seeker);
            }
        }
        let program_id = match self.peers.get_mut(&peer) {
            Some(record) => {
                record.active_chats = record.active_chats.saturating_sub(1);
                Some(record.program.clone())
            }
            None => requeued.map(|(program_id, _)| program_id),
        };
        if let Some(program_id) = program_id {
            self.settle(&program_id, now, &mut actions);
        }
        actions
    }

    /// A chat between these two ended (for any reason): capacity is freed, the seeker may
    /// seek again. Either side may already be gone.
    pub fn chat_ended(&mut self, seeker: SeekerId, peer: PeerId, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(record) = self.seekers.get_mut(&seeker)
            && matches!(record.state, SeekerState::Chatting(_))
        {
            record.state = SeekerState::Idle;
        }
        if let Some(record) = self.peers.get_mut(&peer) {
            record.active_chats = record.active_chats.saturating_sub(1);
            let program_id = record.program.clone();
            self.settle(&program_id, now, &mut actions);
        }
        actions
    }

    /// Fires every deadline that has passed: offer timeouts, then wait limits.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut expired = Vec::new();
        for (peer_id, peer) in &self.peers {
            for (number, open) in &peer.offers {
                if open.deadline <= now {
                    expired.push((*peer_id, *number, open.seeker));
                }
            }
        }
        for (peer, number, seeker) in expired {
            actions.push(Action::OfferWithdrawn {
                offer: OfferKey { peer, number },
                reason: OfferWithdrawnReason::Timeout,
            });
            if let Some(record) = self.peers.get_mut(&peer) {
                record.offers.remove(&number);
                record.missed_in_a_row = record.missed_in_a_row.saturating_add(1);
                // Only a peer's own node decides its availability (scale-out).
                if !record.remote
                    && record.is_available()
                    && record.missed_in_a_row >= LAPSES_BEFORE_AWAY
                {
                    record.availability.status = Availability::Away;
                    actions.push(Action::AvailabilitySet {
                        peer,
                        status: record.availability.status,
                        capacity: record.availability.capacity,
                        active_chats: record.active_chats,
                    });
                }
            }
            actions.extend(self.release_offer(seeker, peer, Release::Lapsed));
        }
        let mut waited_out = Vec::new();
        for program in self.programs.values() {
            for seeker in &program.queue {
                if let Some(SeekerState::Waiting(waiting)) =
                    self.seekers.get(seeker).map(|r| &r.state)
                    && waiting.deadline <= now
                {
                    waited_out.push(*seeker);
                }
            }
        }
        for seeker in waited_out {
            self.leave_queue(seeker, OfferWithdrawnReason::SeekerLeft, &mut actions);
            actions.push(Action::NoPeer {
                seeker,
                reason: NoPeerReason::WaitLimit,
            });
        }
        let mut program_ids: Vec<String> = self.programs.keys().cloned().collect();
        program_ids.sort();
        for program_id in program_ids {
            self.settle(&program_id, now, &mut actions);
        }
        actions
    }

    /// The earliest instant at which [`Self::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let offers = self
            .peers
            .values()
            .flat_map(|peer| peer.offers.values().map(|open| open.deadline));
        let waits = self
            .seekers
            .values()
            .filter_map(|record| match &record.state {
                SeekerState::Waiting(waiting) => Some(waiting.deadline),
                _ => None,
            });
        let holds = self.programs.values().filter_map(|p| p.hold_until);
        offers.chain(waits).chain(holds).min()
    }

    /// Scale-out, on the peer's node: another node asks to offer one of its waiting seekers
    /// to this node's `peer`. This node is the only one that grants that peer's capacity, so
    /// the reservation is atomic here. `seeker` is a fresh handle for the remote seeker; it
    /// never enters a queue. Returns the `Offer` (or, for an auto-accepting peer, `Matched`);
    /// `NotAvailable` if the peer has no room, does not fit, or already had this seeker.
    pub fn remote_offer(
        &mut self,
        seeker: SeekerId,
        peer: PeerId,
        preferences: SeekPreferences,
        now: Instant,
    ) -> Result<Vec<Action>, MatchError> {
        self.remote_offer_waited(seeker, peer, preferences, Duration::ZERO, "", now)
    }

    /// [`Self::remote_offer`] for a seeker who has waited `waited` on its own node (as that
    /// node measured it). Cross-node fairness: refused (`NotAvailable`, the asking node
    /// keeps its seeker in place) while a local seeker who has waited longer and who fits
    /// this peer is waiting here without an offer (it is only waiting because the slot was
    /// held for some other node's older head, which did not claim it); and refused while a
    /// third node's head (node `from` asks) has waited longer, for up to the hold from the
    /// first such refusal — so of two nodes racing for one slot the older head gets it.
    pub fn remote_offer_waited(
        &mut self,
        seeker: SeekerId,
        peer: PeerId,
        preferences: SeekPreferences,
        waited: Duration,
        from: &str,
        now: Instant,
    ) -> Result<Vec<Action>, MatchError> {
        let record = self.peers.get(&peer).ok_or(MatchError::UnknownParty)?;
        if self.draining || !record.has_room() || !record.fits(&preferences) {
            return Err(MatchError::NotAvailable);
        }
        let program = record.program.clone();
        let remote_since = now.checked_sub(waited).unwrap_or(now);
        if let Some(state) = self.programs.get(&program) {
            let older_here = state.queue.iter().any(|local| {
                self.seekers.get(local).is_some_and(|r| {
                    !r.excluded.contains(&peer)
                        && matches!(&r.state, SeekerState::Waiting(w)
                            if w.offer.is_none()
                                && w.since < remote_since
                                && record.fits(&w.preferences))
                })
            });
            if older_here {
                return Err(MatchError::NotAvailable);
            }
        }
        if let Some(state) = self.programs.get_mut(&program) {
            let older_elsewhere = state.remote_heads.iter().any(|(node, head)| {
                node != from && head.valid_until > now && head.since < remote_since
            });
            if older_elsewhere {
                let until = *state.hold_until.get_or_insert(now + state.hold);
                if now < until {
                    return Err(MatchError::NotAvailable);
                }
            }
            // The held slot (if any) goes to the other node: the hold is over.
            state.hold_until = None;
        }
        let wait_limit = self
            .programs
            .get(&program)
            .map(|p| p.wait_limit)
            .ok_or(MatchError::UnknownProgram)?;
        self.seekers.insert(
            seeker,
            SeekerRecord {
                program,
                state: SeekerState::Waiting(Waiting {
                    preferences: preferences.clone(),
                    since: now,
                    rank: now,
                    urgent: false,
                    deadline: now + wait_limit,
                    offer: None,
                    last_sent: None,
                }),
                excluded: HashSet::new(),
                lapsed: HashMap::new(),
                remote: true,
                away: false,
            },
        );
        if !self.peers.contains_key(&peer) {
            return Err(MatchError::UnknownParty);
        }
        let mut actions = Vec::new();
        // Urgency orders a node's own queue only; a cross-node offer does not carry it.
        self.offer(
            peer,
            seeker,
            (preferences.topic, preferences.language, false),
            now,
            &mut actions,
        );
        Ok(actions)
    }

    /// Scale-out, on the seeker's node: the peer's node refused to reserve capacity for this
    /// offer (another node got there first). The offer ends without excluding the peer; the
    /// seeker keeps its place. The driver marks the remote peer away until its next presence.
    pub fn offer_refused(
        &mut self,
        peer: PeerId,
        number: u32,
        now: Instant,
    ) -> Result<Vec<Action>, MatchError> {
        let record = self.peers.get_mut(&peer).ok_or(MatchError::UnknownParty)?;
        let open = record
            .offers
            .remove(&number)
            .ok_or(MatchError::UnknownOffer)?;
        let program_id = record.program.clone();
        if let Some(waiting) = self.waiting_mut(open.seeker) {
            waiting.offer = None;
        }
        let mut actions = Vec::new();
        self.settle(&program_id, now, &mut actions);
        Ok(actions)
    }

    /// A peer's availability and load as the matcher holds them (scale-out presence).
    pub fn peer_state(&self, peer: PeerId) -> Option<(PeerAvailability, usize)> {
        self.peers
            .get(&peer)
            .map(|record| (record.availability.clone(), record.load()))
    }

    /// Per program: seekers waiting and how long the first has waited (scale-out presence:
    /// the queue heads other nodes compare against).
    pub fn queue_heads(&self, now: Instant) -> Vec<(String, usize, Duration)> {
        let mut heads: Vec<(String, usize, Duration)> = self
            .programs
            .iter()
            .map(|(id, program)| {
                let oldest = program
                    .queue
                    .iter()
                    .filter_map(|seeker| match self.seekers.get(seeker).map(|r| &r.state) {
                        // Waiting for a peer: one with an offer open is being served.
                        Some(SeekerState::Waiting(waiting)) if waiting.offer.is_none() => {
                            Some(now.saturating_duration_since(waiting.since))
                        }
                        _ => None,
                    })
                    .max()
                    .unwrap_or_default();
                (id.clone(), program.queue.len(), oldest)
            })
            .collect();
        heads.sort();
        heads
    }

    /// Scale-out: marks `peer` as a peer on another node (its capacity is that node's).
    pub fn set_peer_remote(&mut self, peer: PeerId) {
        if let Some(record) = self.peers.get_mut(&peer) {
            record.remote = true;
        }
    }

    /// Scale-out: whether `peer` is a peer on another node (see [`Self::set_peer_remote`]).
    pub fn is_peer_remote(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|record| record.remote)
    }

    /// Scale-out: how long the seeker of open offer `number` to `peer` has waited.
    pub fn offer_waited(&self, peer: PeerId, number: u32, now: Instant) -> Option<Duration> {
        let open = self.peers.get(&peer)?.offers.get(&number)?;
        match &self.seekers.get(&open.seeker)?.state {
            SeekerState::Waiting(waiting) => Some(now.saturating_duration_since(waiting.since)),
            _ => None,
        }
    }

    /// Scale-out: node `node`'s queue heads as its presence sent them — per program, how
    /// long its longest-waiting seeker without an open offer has waited (as that node
    /// measured it; zero or absent: nobody). Kept for `hold`, and each freed local slot is
    /// held for up to `hold` while an older remote head exists (see [`Self::dispatch`]).
    pub fn remote_heads(
        &mut self,
        node: &str,
        heads: &[(String, Duration)],
        hold: Duration,
        now: Instant,
    ) -> Vec<Action> {
        let mut ids: Vec<String> = self.programs.keys().cloned().collect();
        ids.sort();
        for (id, program) in &mut self.programs {
            program.hold = hold;
            match heads.iter().find(|(p, _)| p == id) {
                Some((_, age)) if !age.is_zero() => {
                    program.remote_heads.insert(
                        node.to_owned(),
                        RemoteHead {
                            since: now.checked_sub(*age).unwrap_or(now),
                            valid_until: now + hold,
                        },
                    );
                }
                _ => {
                    program.remote_heads.remove(node);
                }
            }
        }
        let mut actions = Vec::new();
        for id in ids {
            self.settle(&id, now, &mut actions);
        }
        actions
    }

    /// Aggregate figures for the relay's stats.
    pub fn stats(&self) -> MatchStats {
        MatchStats {
            queued_seekers: self.programs.values().map(|p| p.queue.len()).sum(),
            available_peers: self.peers.values().filter(|p| p.is_available()).count(),
            open_offers: self.peers.values().map(|p| p.offers.len()).sum(),
            active_chats: self
                .peers
                .values()
                .map(|p| usize::from(p.active_chats))
                .sum(),
        }
    }

    fn waiting_mut(&mut self, seeker: SeekerId) -> Option<&mut Waiting> {
        match self.seekers.get_mut(&seeker).map(|r| &mut r.state) {
            Some(SeekerState::Waiting(waiting)) => Some(waiting),
            _ => None,
        }
    }

    /// An offer to `peer` ended without a match: the seeker waits on. A decline excludes
    /// `peer` for this seeker; a lapsed offer only puts `peer` behind every other fitting
    /// peer for it (`proto/spec.md`, "Offers"). A remote seeker (scale-out) is done here
    /// instead: it goes idle and its node is told.
    fn release_offer(&mut self, seeker: SeekerId, peer: PeerId, how: Release) -> Option<Action> {
        let record = self.seekers.get_mut(&seeker)?;
        match how {
            Release::Declined => {
                record.excluded.insert(peer);
            }
            Release::Lapsed => *record.lapsed.entry(peer).or_default() += 1,
        }
        if let SeekerState::Waiting(waiting) = &mut record.state {
            waiting.offer = None;
            if record.remote {
                record.state = SeekerState::Idle;
                return Some(Action::Cancelled { seeker });
            }
        }
        None
    }

    /// Takes a waiting seeker out of its queue (withdrawing an open offer) and makes it idle.
    fn leave_queue(
        &mut self,
        seeker: SeekerId,
        reason: OfferWithdrawnReason,
        actions: &mut Vec<Action>,
    ) {
        let Some(record) = self.seekers.get_mut(&seeker) else {
            return;
        };
        let SeekerState::Waiting(waiting) = std::mem::replace(&mut record.state, SeekerState::Idle)
        else {
            return;
        };
        if let Some(program) = self.programs.get_mut(&record.program) {
            program.queue.retain(|s| *s != seeker);
        }
        if let Some(offer) = waiting.offer
            && let Some(peer) = self.peers.get_mut(&offer.peer)
            && peer.offers.remove(&offer.number).is_some()
        {
            actions.push(Action::OfferWithdrawn { offer, reason });
        }
    }

    /// Turns an offer into a chat: the seeker leaves the queue, the peer's load stays counted.
    fn make_match(
        &mut self,
        offer: OfferKey,
        seeker: SeekerId,
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(record) = self.seekers.get_mut(&seeker) else {
            return;
        };
        let SeekerState::Waiting(waiting) = std::mem::replace(&mut record.state, SeekerState::Idle)
        else {
            return;
        };
        let since = waiting.since;
        record.state = SeekerState::Chatting(Box::new(waiting));
        if let Some(program) = self.programs.get_mut(&record.program) {
            program.queue.retain(|s| *s != seeker);
            program
                .estimator
                .record(now.saturating_duration_since(since));
        }
        if let Some(peer) = self.peers.get_mut(&offer.peer) {
            peer.active_chats = peer.active_chats.saturating_add(1);
        }
        actions.push(Action::Matched { offer, seeker });
    }

    /// After any change in a program: make the offers that are now possible, then tell every
    /// waiting seeker of the program its new place (in that order, so a seeker offered just
    /// now is not told a stale place first).
    fn settle(&mut self, program: &str, now: Instant, actions: &mut Vec<Action>) {
        self.dispatch(program, now, actions);
        self.refresh_queued(program, actions);
    }

    /// Offers every waiting seeker without an open offer to the best fitting peer.
    ///
    /// Cross-node fairness (scale-out): a local seeker is not given a *local* peer's slot
    /// while another node's queue head (as its presence said) has waited longer; the slot is
    /// held — free, so that node's reservation is granted — for up to `hold` from the moment
    /// it was first held back, then given locally. The seeker may still be offered a peer
    /// on another node meanwhile (that node decides).
    fn dispatch(&mut self, program_id: &str, now: Instant, actions: &mut Vec<Action>) {
        if self.draining {
            return;
        }
        let Some(program) = self.programs.get_mut(program_id) else {
            return;
        };
        program
            .remote_heads
            .retain(|_, head| head.valid_until > now);
        let oldest_remote = program.remote_heads.values().map(|head| head.since).min();
        let hold = program.hold;
        // Only peers of this program with room can take anyone: found once here, and
        // shrunk as offers fill them, so a long queue in front of full peers costs one pass
        // over the peers, not one per queued seeker.
        let mut candidates: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, peer)| peer.program == program_id && peer.has_room())
            .map(|(id, _)| *id)
            .collect();
        let queue: Vec<SeekerId> = if candidates.is_empty() {
            Vec::new()
        } else {
            program.queue.iter().copied().collect()
        };
        for seeker in queue {
            candidates.retain(|id| self.peers.get(id).is_some_and(PeerRecord::has_room));
            if candidates.is_empty() {
                break;
            }
            let Some(record) = self.seekers.get(&seeker) else {
                continue;
            };
            let SeekerState::Waiting(waiting) = &record.state else {
                continue;
            };
            if waiting.offer.is_some() || record.away {
                continue;
            }
            let pick = |local_too: bool| {
                candidates
                    .iter()
                    .filter_map(|id| self.peers.get_key_value(id))
                    .filter(|(id, peer)| {
                        (local_too || peer.remote)
                            && peer.has_room()
                            && !record.excluded.contains(id)
                            && peer.fits(&waiting.preferences)
                    })
                    .min_by_key(|(id, peer)| {
                        let lapses = record.lapsed.get(*id).copied().unwrap_or(0);
                        (lapses, peer.load(), peer.idle_since, **id)
                    })
                    .map(|(id, peer)| (*id, peer.remote))
            };
            let mut best = pick(true);
            if let Some((_, false)) = best {
                let older_elsewhere = oldest_remote.is_some_and(|since| since < waiting.since);
                let state = self.programs.get_mut(program_id);
                match state {
                    Some(state) if older_elsewhere => {
                        let until = *state.hold_until.get_or_insert(now + hold);
                        if now < until {
                            // Held for the older head on another node.
                            best = pick(false);
                        } else {
                            // Not claimed in time: the slot goes to this node's seeker.
                            state.hold_until = None;
                        }
                    }
                    Some(state) => state.hold_until = None,
                    None => {}
                }
            }
            let Some((peer_id, _)) = best else {
                continue;
            };
            let topic = waiting.preferences.topic.clone();
            let language = waiting.preferences.language.clone();
            let urgent = waiting.urgent;
            self.offer(peer_id, seeker, (topic, language, urgent), now, actions);
        }
        // A hold that ran out without anyone taking the slot is over; the next freed slot
        // gets a fresh one.
        if let Some(state) = self.programs.get_mut(program_id)
            && state.hold_until.is_some_and(|until| until <= now)
        {
            state.hold_until = None;
        }
    }

    /// Offers `seeker` to `peer` (which has room and fits): with auto-accept the match is
    /// made at once; otherwise an open offer counts against the peer's capacity until it is
    /// answered or expires, and the peer is sent `offer`.
    fn offer(
        &mut self,
        peer: PeerId,
        seeker: SeekerId,
        (topic, language, urgent): (Option<String>, Option<String>, bool),
        now: Instant,
        actions: &mut Vec<Action>,
    ) {
        let Some(record) = self.peers.get_mut(&peer) else {
            return;
        };
        let number = record.allocate_offer_number();
        record.idle_since = now;
        let offer = OfferKey { peer, number };
        if record.availability.auto_accept {
            self.make_match(offer, seeker, now, actions);
            return;
        }
        record.offers.insert(
            number,
            OpenOffer {
                seeker,
                deadline: now + self.config.offer_timeout,
            },
        );
        if let Some(waiting) = self.waiting_mut(seeker) {
            waiting.offer = Some(offer);
        }
        actions.push(Action::Offer {
            offer,
            seeker,
            topic,
            language,
            urgent,
            expires_in: self.config.offer_timeout,
        });
    }

    /// Sends `Queued` to each waiting seeker whose figures changed since it was last told.
    fn refresh_queued(&mut self, program_id: &str, actions: &mut Vec<Action>) {
        let available: Vec<(&PeerId, &PeerRecord)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.program == program_id && p.is_available())
            .collect();
        let peers_online = u32::try_from(available.len()).unwrap_or(u32::MAX);
        let Some(program) = self.programs.get(program_id) else {
            return;
        };
        let mut updates = Vec::new();
        for (index, seeker) in program.queue.iter().enumerate() {
            let Some(record) = self.seekers.get(seeker) else {
                continue;
            };
            let SeekerState::Waiting(waiting) = &record.state else {
                continue;
            };
            let position = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let estimate_secs = program.estimator.estimate_secs(position, peers_online);
            // Busy peers can still take the seeker later; only a peer that may never be
            // offered it (preferences, refusals) does not count.
            let none = if available.is_empty() {
                Some(QueueNone::NoneOnline)
            } else if available
                .iter()
                .any(|(id, peer)| !record.excluded.contains(id) && peer.fits(&waiting.preferences))
            {
                None
            } else {
                Some(QueueNone::NoneAvailable)
            };
            // Nobody can take the seeker: any figure would be a promise nobody can keep.
            let estimate_secs = estimate_secs.filter(|_| none.is_none());
            let figures = (position, peers_online, estimate_secs, none);
            if waiting.last_sent != Some(figures) {
                updates.push((*seeker, figures));
            }
        }
        for (seeker, figures) in updates {
            if let Some(waiting) = self.waiting_mut(seeker) {
                waiting.last_sent = Some(figures);
            }
            let (position, peers_online, estimate_secs, none) = figures;
            actions.push(Action::Queued {
                seeker,
                position,
                peers_online,
                estimate_secs,
                none,
            });
        }
    }
}
