//! Membership: the other nodes as this node has heard them, and failure detection.
//!
//! A node is known from its first presence on. It is let go when none has arrived for the
//! TTL (dead, partitioned, or alive but heard late), and forgotten at once when its last
//! presence says `leaving`. A node let go at the TTL that speaks again was alive after all:
//! that is remembered (bounded), so the false alarm can be counted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::{Party, Token};
use crate::cluster::wire::PeerPresence;

/// How many nodes let go are remembered, to recognise one that comes back.
const REMEMBERED_LET_GO: usize = 64;

/// Another node as heard.
pub(super) struct KnownNode {
    pub(super) last_seen: Instant,
    /// Its peers registered here as virtual connections, by token.
    pub(super) peers: HashMap<Token, Party>,
    /// Peers whose certificates are being checked, with their newest presence.
    pub(super) verifying: HashMap<Token, (PeerPresence, bool)>,
    /// Peers whose certificates failed: not checked again while their node lists them.
    pub(super) rejected: HashSet<Token>,
}

impl KnownNode {
    fn new(now: Instant) -> Self {
        Self {
            last_seen: now,
            peers: HashMap::new(),
            verifying: HashMap::new(),
            rejected: HashSet::new(),
        }
    }
}

#[derive(Default)]
pub(super) struct Nodes {
    pub(super) known: HashMap<Token, KnownNode>,
    /// Nodes let go at the TTL, most recent last.
    let_go: VecDeque<Token>,
}

impl Nodes {
    /// `node` spoke at `now`. Returns it, and whether it is one let go at the TTL that was
    /// alive after all.
    pub(super) fn heard(&mut self, node: &str, now: Instant) -> (&mut KnownNode, bool) {
        let mut returned = false;
        if !self.known.contains_key(node)
            && let Some(at) = self.let_go.iter().position(|id| id == node)
        {
            self.let_go.remove(at);
            returned = true;
        }
        let known = self
            .known
            .entry(node.to_owned())
            .or_insert_with(|| KnownNode::new(now));
        known.last_seen = now;
        (known, returned)
    }

    /// The nodes not heard from for longer than `ttl`, removed and remembered as let go.
    pub(super) fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<(Token, KnownNode)> {
        let dead: Vec<Token> = self
            .known
            .iter()
            .filter(|(_, n)| now.saturating_duration_since(n.last_seen) > ttl)
            .map(|(id, _)| id.clone())
            .collect();
        let mut gone = Vec::new();
        for id in dead {
            if let Some(known) = self.known.remove(&id) {
                if self.let_go.len() >= REMEMBERED_LET_GO {
                    self.let_go.pop_front();
                }
                self.let_go.push_back(id.clone());
                gone.push((id, known));
            }
        }
        gone
    }

    pub(super) fn remote_peers(&self) -> usize {
        self.known.values().map(|n| n.peers.len()).sum()
    }
}
