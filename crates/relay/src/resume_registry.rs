//! Feature `resume`: which connection a resume secret names (`proto/spec.md`, "Resume").
//!
//! Each resumable connection registers the SHA-256 of its current one-time secret together
//! with the inbox through which a new socket reaches it. A `resume` frame on a new socket
//! takes the entry out — the secret is spent whether or not the resume then succeeds — and
//! sends the socket through the inbox. Only hashes are kept, in memory; an entry goes when
//! it is taken, replaced by the connection's next secret, or when the connection ends.
//!
//! A leaf: it names no other module of the relay, so the shared context can hold it.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use axum::extract::ws::WebSocket;
use confidant_proto::limits::RESUME_SECRET_LEN;
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;

/// SHA-256 of a resume secret: what the registry keys on.
pub(crate) type SecretHash = [u8; 32];

/// A new socket for an existing connection.
pub(crate) struct Takeover {
    /// The socket that sent `resume`.
    pub(crate) socket: WebSocket,
    /// `resume.received`: counted messages the client got from the relay.
    pub(crate) received: u64,
    /// The new socket's connection guard (the live count and its source's slot), kept alive
    /// by whichever task serves the socket: held only for its `Drop`.
    pub(crate) guard: Box<dyn Any + Send>,
}

/// Where a connection waits for a new socket.
pub(crate) type TakeoverInbox = oneshot::Sender<Takeover>;

/// The secrets of every resumable connection, by hash.
#[derive(Default)]
pub(crate) struct ResumeRegistry {
    waiting: Mutex<HashMap<SecretHash, TakeoverInbox>>,
}

impl ResumeRegistry {
    /// A fresh secret for a connection, registered with its inbox: the secret to send, its
    /// hash (to forget it later) and the receiving end of the inbox. `None` only when the
    /// operating system gives no randomness.
    pub(crate) fn issue(
        &self,
    ) -> Option<(
        [u8; RESUME_SECRET_LEN],
        SecretHash,
        oneshot::Receiver<Takeover>,
    )> {
        let mut secret = [0u8; RESUME_SECRET_LEN];
        getrandom::fill(&mut secret).ok()?;
        let hash = hash(&secret);
        let (inbox, takeovers) = oneshot::channel();
        self.lock().insert(hash, inbox);
        Some((secret, hash, takeovers))
    }

    /// Takes the entry a presented secret names, spending the secret.
    pub(crate) fn take(&self, secret: &[u8]) -> Option<TakeoverInbox> {
        self.lock().remove(&hash(secret))
    }

    /// Forgets a connection's secret (the connection ended).
    pub(crate) fn forget(&self, hash: &SecretHash) {
        self.lock().remove(hash);
    }

    /// Secrets registered now (one per resumable connection).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SecretHash, TakeoverInbox>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// SHA-256 of a secret. Looking a hash up in a map leaks timing about the hash, never about
/// the secret, so no constant-time comparison is needed.
fn hash(secret: &[u8]) -> SecretHash {
    Sha256::digest(secret).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_works_once_and_a_guess_not_at_all() {
        let registry = ResumeRegistry::default();
        let (secret, hash, _takeovers) = registry.issue().expect("randomness");
        assert_eq!(registry.len(), 1);
        assert!(registry.take(&[0u8; RESUME_SECRET_LEN]).is_none());
        assert!(registry.take(&secret).is_some());
        assert!(registry.take(&secret).is_none(), "spent");
        let (_, second, _takeovers) = registry.issue().expect("randomness");
        assert_ne!(hash, second);
        registry.forget(&second);
        assert_eq!(registry.len(), 0);
    }
}
