//! Connections per source address, without keeping addresses.
//!
//! The threat model promises a per-source limit and also that the relay keeps no IP
//! addresses. Both hold: an address is reduced at accept time to a 64-bit SipHash under a
//! random key that only this process knows and that is replaced every
//! [`ROTATE_EVERY`]; the table maps those hashes to counts and forgets an entry when its
//! last connection closes. After a rotation the same address hashes differently, so the
//! table cannot link connections across rotations (and a source may briefly hold up to
//! twice its limit, across the two keys — the price of forgetting).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long one hashing key lives.
pub(crate) const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);

/// A source address, hashed; what the request carries instead of the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SourceKey(u64);

struct Inner {
    hasher: RandomState,
    keyed_at: Instant,
    counts: HashMap<SourceKey, usize>,
}

/// The per-source table.
pub(crate) struct SourceCounter {
    inner: Arc<Mutex<Inner>>,
}

/// One counted connection; dropping it gives the slot back.
#[derive(Debug)]
pub(crate) struct SourceSlot {
    key: SourceKey,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceCounter")
            .field("sources", &self.counts.len())
            .finish_non_exhaustive()
    }
}

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SourceCounter {
    /// An empty table with a fresh random key.
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                hasher: RandomState::new(),
                keyed_at: Instant::now(),
                counts: HashMap::new(),
            })),
        }
    }

    /// Hashes `ip` under the current key (rotating it when due). The address is not kept.
    pub(crate) fn key(&self, ip: IpAddr) -> SourceKey {
        let mut inner = lock(&self.inner);
        if inner.keyed_at.elapsed() >= ROTATE_EVERY {
            inner.hasher = RandomState::new();
            inner.keyed_at = Instant::now();
        }
        // IPv4-mapped IPv6 and IPv4 are one source.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        SourceKey(inner.hasher.hash_one(ip))
    }

    /// Counts a connection from `key` unless it already has `limit` (0: unlimited).
    pub(crate) fn try_acquire(&self, key: SourceKey, limit: usize) -> Option<SourceSlot> {
        let mut inner = lock(&self.inner);
        let count = inner.counts.entry(key).or_insert(0);
        if limit != 0 && *count >= limit {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            key,
            inner: self.inner.clone(),
        })
    }

    /// Sources with at least one connection (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        lock(&self.inner).counts.len()
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut inner = lock(&self.inner);
        if let Some(count) = inner.counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_per_source_and_forgetting() {
        let counter = SourceCounter::new();
        let a = counter.key("192.0.2.1".parse().unwrap());
        let b = counter.key("192.0.2.2".parse().unwrap());
        let mapped = counter.key("::ffff:192.0.2.1".parse().unwrap());
        assert_eq!(a, mapped);
        let first = counter.try_acquire(a, 2).unwrap();
        let _second = counter.try_acquire(a, 2).unwrap();
        assert!(counter.try_acquire(a, 2).is_none());
        let other = counter.try_acquire(b, 2).unwrap();
        drop(first);
        assert!(counter.try_acquire(a, 2).is_some());
        drop(other);
        assert_eq!(counter.tracked(), 1);
        assert!(counter.try_acquire(b, 0).is_some());
    }
}
