//! The cross-node invariants, checked after every event and when a schedule settles.

use std::collections::HashMap;

use super::*;

impl World {
    // ---- invariants ----

    pub(super) fn check_capacity(&mut self) {
        let mut problems = Vec::new();
        for n in &self.nodes {
            for (party, conn) in &n.conns {
                if let Conn::LocalPeer { client, capacity } = conn {
                    let load = n.offers.values().filter(|o| o.peer == *party).count()
                        + n.chats.iter().filter(|c| c.peer.0 == *party).count();
                    if load > *capacity {
                        problems.push(format!(
                            "peer {client} on {} holds {load} > capacity {capacity}",
                            n.name
                        ));
                    }
                }
            }
        }
        for p in problems {
            self.violation(p);
        }
    }

    /// Every cross-node chat half has its other half (its node alive), or is gone.
    pub(super) fn check_halves(&mut self) {
        let mut halves: HashMap<Token, Vec<usize>> = HashMap::new();
        let mut problems = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.alive {
                continue;
            }
            for chat in &n.chats {
                for side in [chat.seeker, chat.peer] {
                    if !matches!(
                        n.conns.get(&side.0),
                        Some(Conn::VirtualPeer { .. } | Conn::VirtualSeeker { .. })
                    ) {
                        continue;
                    }
                    match n.token_of_chat.get(&side) {
                        Some(token) => halves.entry(token.clone()).or_default().push(i),
                        None => {
                            problems.push(format!("{} has a cross-node chat never bound", n.name))
                        }
                    }
                }
            }
        }
        for (token, at) in halves {
            if at.len() != 2 {
                let names: Vec<&str> = at.iter().map(|i| self.nodes[*i].name.as_str()).collect();
                problems.push(format!("chat {token} has one half, on {names:?}"));
            }
        }
        for p in problems {
            self.violation(p);
        }
    }

    /// Nothing held anywhere.
    pub(super) fn check_empty(&mut self) {
        let mut problems = Vec::new();
        for n in self.nodes.iter().filter(|n| n.alive) {
            if !n.chats.is_empty()
                || !n.offers.is_empty()
                || n.core.chats() != 0
                || !n.bound.is_empty()
            {
                problems.push(format!(
                    "{} still holds {} chats, {} offers, {} core chats, {} bound tokens",
                    n.name,
                    n.chats.len(),
                    n.offers.len(),
                    n.core.chats(),
                    n.bound.len()
                ));
            }
            if n.conns
                .values()
                .any(|c| matches!(c, Conn::VirtualSeeker { .. }))
            {
                problems.push(format!("{} still has a remote seeker", n.name));
            }
        }
        for p in problems {
            self.violation(p);
        }
    }
}
