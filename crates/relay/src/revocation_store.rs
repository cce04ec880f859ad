//! The newest revocation list the relay has seen, per program, in memory only.
//!
//! Lists only move forward: a list replaces the stored one only with a higher sequence, so
//! neither a peer nor an operator mistake can roll a revocation back. Seekers receive the
//! stored list at match time and check its freshness themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use confidant_crypto::RevocationList;

/// A verified list: its sequence, its wire bytes (handed to seekers and other nodes) and
/// its decoded entries (so peers are re-checked against it without verifying it again).
#[derive(Clone, Debug)]
pub(crate) struct StoredList {
    pub(crate) sequence: u64,
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) list: Arc<RevocationList>,
}

/// Per-program newest lists. A std mutex: held for a map lookup, never across an await.
#[derive(Debug, Default)]
pub(crate) struct RevocationStore {
    lists: Mutex<HashMap<String, StoredList>>,
}

impl RevocationStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, StoredList>> {
        // A poisoned lock still holds a consistent map (inserts are single operations).
        self.lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The newest list for `program`, if any.
    pub(crate) fn current(&self, program: &str) -> Option<StoredList> {
        self.lock().get(program).cloned()
    }

    /// Stores an already verified list (`list` decoded from `bytes`) if it is newer. Returns
    /// whether it replaced the old one.
    pub(crate) fn offer(&self, program: &str, list: RevocationList, bytes: &[u8]) -> bool {
        let sequence = list.sequence;
        let mut lists = self.lock();
        let newer = lists
            .get(program)
            .is_none_or(|stored| sequence > stored.sequence);
        if newer {
            lists.insert(
                program.to_owned(),
                StoredList {
                    sequence,
                    bytes: Arc::from(bytes),
                    list: Arc::new(list),
                },
            );
        }
        newer
    }
}
