//! Several relay nodes joined by a real `nats-server` on loopback: chats across nodes,
//! capacity, presence, reservations, fairness, ingress, failover, false loss, revocation,
//! metrics and three nodes at once.
//!
//! One test binary for the area: each module is one file of tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod capacity;
mod chat;
mod failover;
mod fairness;
mod false_loss;
mod ingress;
mod metrics;
mod presence;
mod reservation;
mod revocation;
mod three_nodes;
