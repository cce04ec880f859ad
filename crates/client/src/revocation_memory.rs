//! The highest revocation-list sequence this client has accepted, per program.
//!
//! A relay could replay an old, still-signed revocation list that predates a peer's
//! revocation. Certificates alone cannot stop that; remembering the highest sequence seen
//! and refusing anything lower can (within one client's life). The memory lives only in
//! RAM — a seeker stores nothing on the device — and can be shared between several
//! [`crate::Seeker`]s of one app by cloning it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Shared, in-memory map from program id to the highest accepted revocation sequence.
#[derive(Debug, Clone, Default)]
pub struct RevocationMemory {
    inner: Arc<Mutex<HashMap<String, u64>>>,
}

impl RevocationMemory {
    /// An empty memory: the first list of each program is accepted at any sequence.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The lowest sequence still acceptable for `program` (0 if none seen yet).
    #[must_use]
    pub fn minimum(&self, program: &str) -> u64 {
        // A poisoned lock only means another thread panicked mid-update of a plain map;
        // the data is still a valid map, so keep using it.
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(program).copied().unwrap_or(0)
    }

    /// Records that a list with `sequence` verified for `program`. Never lowers the value.
    pub fn observe(&self, program: &str, sequence: u64) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(program.to_owned()).or_insert(0);
        *entry = (*entry).max(sequence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_down_and_is_per_program() {
        let memory = RevocationMemory::new();
        assert_eq!(memory.minimum("a"), 0);
        memory.observe("a", 5);
        memory.observe("a", 3);
        assert_eq!(memory.minimum("a"), 5);
        assert_eq!(memory.minimum("b"), 0);
        let shared = memory.clone();
        shared.observe("a", 9);
        assert_eq!(memory.minimum("a"), 9);
    }
}
