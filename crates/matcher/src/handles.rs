//! Opaque handles the matching core uses for the parties it matches.
//!
//! The core never sees a socket, an address or a certificate: only these numbers. That keeps
//! it I/O-free and lets a later multi-node mode give remote peers handles of their own
//! (e.g. node number in the high bits) without touching the algorithm.

/// A seeker's connection as the matcher knows it. One per connection, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeekerId(pub u64);

/// A verified peer supporter's connection as the matcher knows it. One per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// An offer, addressed by the peer it went to and that peer's offer counter: the number is
/// what the peer sees on the wire (`offer`), so it is per peer connection, not global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferKey {
    /// The peer the offer went to.
    pub peer: PeerId,
    /// The offer number on that peer's connection (`1..`).
    pub number: u32,
}
