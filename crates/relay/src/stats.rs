//! Aggregate figures: counts only, never an identifier, address or chat number. Tests use
//! them to prove every table is empty once chats end; an operator's metrics will too.

/// A snapshot of the relay's state tables, as counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// WebSocket connections open (counted at accept).
    pub connections: usize,
    /// Connections the hub has registered (should equal `connections` when idle).
    pub registered_connections: usize,
    /// Seekers waiting in all queues.
    pub queued_seekers: usize,
    /// Peers currently available.
    pub available_peers: usize,
    /// Offers waiting for an answer.
    pub open_offers: usize,
    /// Chats running (the hub's chat table).
    pub active_chats: usize,
    /// Chats counted against peers' capacity (must equal `active_chats`).
    pub capacity_in_use: usize,
}
