//! What the matcher knows about a peer supporter: the certificate's signed profile, the
//! availability it set, and the load it carries (chats plus offers in flight).

use std::collections::BTreeMap;
use std::time::Instant;

use confidant_proto::{Availability, SeekPreferences};

use super::handles::SeekerId;

/// The parts of a verified certificate matching needs. Signed by the program, so a peer
/// cannot offer a role, topic or language its certificate does not grant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerProfile {
    /// The certificate's role, e.g. `resident`.
    pub role: String,
    /// Topics the certificate grants (empty: any topic of the program).
    pub topics: Vec<String>,
    /// Languages the certificate grants (empty: any language).
    pub languages: Vec<String>,
}

/// What the peer asked for with `set_availability`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAvailability {
    /// Available or away.
    pub status: Availability,
    /// Chats at once (1..=MAX_CAPACITY).
    pub capacity: u16,
    /// Topics offered (empty: the certificate's).
    pub topics: Vec<String>,
    /// Languages offered (empty: the certificate's).
    pub languages: Vec<String>,
    /// Accept every offer at once.
    pub auto_accept: bool,
}

impl Default for PeerAvailability {
    fn default() -> Self {
        Self {
            status: Availability::Away,
            capacity: 1,
            topics: Vec::new(),
            languages: Vec::new(),
            auto_accept: false,
        }
    }
}

/// A peer in the matcher's table.
#[derive(Clone, Debug)]
pub(crate) struct PeerRecord {
    pub(crate) program: String,
    pub(crate) profile: PeerProfile,
    pub(crate) availability: PeerAvailability,
    pub(crate) active_chats: u16,
    /// Open offers by number; each reserves one unit of capacity.
    pub(crate) offers: BTreeMap<u32, OpenOffer>,
    pub(crate) next_offer: u32,
    /// When the peer last got an offer (or came online): the fairness tie-break.
    pub(crate) idle_since: Instant,
    /// A peer on another node (scale-out): its capacity is that node's to grant, so the
    /// cross-node fairness hold never applies to it.
    pub(crate) remote: bool,
    /// Offers it let lapse since it last answered one or set its availability.
    pub(crate) missed_in_a_row: u32,
    /// Feature `resume`: its socket is lost and its grace window runs; not offered anything.
    pub(crate) away: bool,
}

/// An offer waiting for the peer's answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenOffer {
    pub(crate) seeker: SeekerId,
    pub(crate) deadline: Instant,
}

impl PeerRecord {
    pub(crate) fn new(program: String, profile: PeerProfile, now: Instant) -> Self {
        Self {
            program,
            profile,
            availability: PeerAvailability::default(),
            active_chats: 0,
            offers: BTreeMap::new(),
            next_offer: 1,
            idle_since: now,
            remote: false,
            missed_in_a_row: 0,
            away: false,
        }
    }

    /// Chats plus offers in flight: what counts against capacity.
    pub(crate) fn load(&self) -> usize {
        usize::from(self.active_chats) + self.offers.len()
    }

    pub(crate) fn is_available(&self) -> bool {
        self.availability.status == Availability::Available && !self.away
    }

    pub(crate) fn has_room(&self) -> bool {
        self.is_available() && self.load() < usize::from(self.availability.capacity)
    }

    /// Whether this peer may serve these preferences.
    pub(crate) fn fits(&self, preferences: &SeekPreferences) -> bool {
        let role_fits = preferences
            .peer_role
            .as_ref()
            .is_none_or(|role| *role == self.profile.role);
        let topic_fits = preferences
            .topic
            .as_ref()
            .is_none_or(|topic| offered(&self.availability.topics, &self.profile.topics, topic));
        let language_fits = preferences.language.as_ref().is_none_or(|language| {
            offered(
                &self.availability.languages,
                &self.profile.languages,
                language,
            )
        });
        role_fits && topic_fits && language_fits
    }

    pub(crate) fn allocate_offer_number(&mut self) -> u32 {
        let number = self.next_offer;
        // Offer numbers are never reused on a connection; 2^32 offers is not reachable.
        self.next_offer = self.next_offer.saturating_add(1);
        number
    }
}

/// A tag is offered when the certificate grants it (or grants everything) and the
/// availability either lists it or lists nothing.
fn offered(chosen: &[String], granted: &[String], tag: &str) -> bool {
    let granted_ok = granted.is_empty() || granted.iter().any(|g| g == tag);
    let chosen_ok = chosen.is_empty() || chosen.iter().any(|c| c == tag);
    granted_ok && chosen_ok
}
