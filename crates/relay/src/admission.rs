//! Admission without addresses (`docs/admission.md`, `proto/spec.md` "Admission").
//!
//! Under load the relay asks each new connection for a hashcash-style proof of work: the
//! SHA-256 of a fresh relay challenge followed by an 8-byte nonce must start with
//! `difficulty` zero bits. A challenge is
//! `version (1) || difficulty (1) || issued_at_ms (8) || random (16) || HMAC-SHA256 (32)`,
//! the HMAC taken under a key that lives only in this process's memory, so the relay keeps
//! no state per challenge issued: it recognises its own challenges by the tag, their age by
//! `issued_at_ms` (milliseconds since the key was made, no wall clock), and keeps only the
//! random part of each challenge *spent*, until it expires, to refuse a second use.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use confidant_proto::admission::leading_zero_bits;
use confidant_proto::{AdmissionChallenge, ErrorCode};
use hmac::{KeyInit, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::config::{ADMISSION_HOLD, AdmissionMode, Limits};

type HmacSha256 = hmac::Hmac<Sha256>;

const VERSION: u8 = 1;
const SIGNED_LEN: usize = 1 + 1 + 8 + 16;
const CHALLENGE_LEN: usize = SIGNED_LEN + 32;
/// Spent challenges remembered at most; beyond, new proofs are refused as "busy" until
/// older ones expire (with a 60 s validity: about 1,000 admissions per second sustained).
pub(crate) const MAX_SPENT: usize = 65_536;

/// Why a connection was or was not let in (the label of the refusal counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The gate is open: no proof asked, none checked.
    Open,
    /// The gate is closed and the proof was good (now spent).
    Admitted,
    /// The gate is closed and the connection is refused with this code.
    Refused(ErrorCode, &'static str),
}

struct Inner {
    window_start: Instant,
    this_window: u32,
    last_window: u32,
    closed_until: Option<Instant>,
    spent: HashSet<[u8; 16]>,
    order: VecDeque<(Instant, [u8; 16])>,
}

/// The gate: the key, the load figures and the spent set.
pub(crate) struct Admission {
    /// One HMAC-SHA256 block of key: 64 random bytes.
    key: [u8; 64],
    /// False if the operating system gave no randomness: then no challenge is issued and
    /// no proof accepted (closed, never open with a guessable key).
    key_ok: bool,
    born: Instant,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission").finish_non_exhaustive()
    }
}

impl Admission {
    /// A gate with a fresh random key.
    pub(crate) fn new() -> Self {
        let mut key = [0u8; 64];
        let key_ok = getrandom::fill(&mut key).is_ok();
        let now = Instant::now();
        Self {
            key,
            key_ok,
            born: now,
            inner: Mutex::new(Inner {
                window_start: now,
                this_window: 0,
                last_window: 0,
                closed_until: None,
                spent: HashSet::new(),
                order: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn millis(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.born).as_millis()).unwrap_or(u64::MAX)
    }

    fn tag(&self, signed: &[u8]) -> HmacSha256 {
        let mut mac = <HmacSha256 as KeyInit>::new(&self.key.into());
        mac.update(b"confidant admission challenge v1");
        mac.update(signed);
        mac
    }

    /// A fresh challenge (`GET /v1/admission`); `None` without randomness.
    pub(crate) fn issue(
        &self,
        limits: &Limits,
        live: usize,
        now: Instant,
    ) -> Option<AdmissionChallenge> {
        let mut signed = [0u8; SIGNED_LEN];
        let mut random = [0u8; 16];
        if !self.key_ok || getrandom::fill(&mut random).is_err() {
            return None;
        }
        let (head, rest) = signed.split_at_mut(2);
        head.copy_from_slice(&[VERSION, limits.admission_difficulty]);
        let (issued, random_part) = rest.split_at_mut(8);
        issued.copy_from_slice(&self.millis(now).to_be_bytes());
        random_part.copy_from_slice(&random);
        let tag = self.tag(&signed).finalize().into_bytes();
        let mut challenge = Vec::with_capacity(CHALLENGE_LEN);
        challenge.extend_from_slice(&signed);
        challenge.extend_from_slice(&tag);
        Some(AdmissionChallenge {
            required: self.gate_closed(limits, live, now, false),
            challenge: URL_SAFE_NO_PAD.encode(&challenge),
            difficulty: limits.admission_difficulty,
            expires_in_ms: u64::try_from(limits.admission_validity.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Whether new connections must show a proof now; `arrival` counts one new connection.
    fn gate_closed(&self, limits: &Limits, live: usize, now: Instant, arrival: bool) -> bool {
        let mut inner = self.lock();
        let elapsed = now.saturating_duration_since(inner.window_start);
        if elapsed >= Duration::from_secs(1) {
            inner.last_window = if elapsed < Duration::from_secs(2) {
                inner.this_window
            } else {
                0
            };
            inner.this_window = 0;
            inner.window_start = now;
        }
        if arrival {
            inner.this_window = inner.this_window.saturating_add(1);
        }
        match limits.admission {
            AdmissionMode::Off => false,
            AdmissionMode::Always => true,
            AdmissionMode::Auto => {
                let rate = inner.this_window.max(inner.last_window);
                if live >= limits.admission_open_connections
                    || rate >= limits.admission_new_per_second
                {
                    inner.closed_until = Some(now + ADMISSION_HOLD);
                }
                inner.closed_until.is_some_and(|until| now < until)
            }
        }
    }

    /// Decides on one new connection: `live` connections are open, `admission` says whether
    /// the client declared the feature, `proof` is its `proof` query value.
    pub(crate) fn check(
        &self,
        limits: &Limits,
        live: usize,
        admission: bool,
        proof: Option<&str>,
        now: Instant,
    ) -> Verdict {
        if !self.gate_closed(limits, live, now, true) {
            return Verdict::Open;
        }
        if !admission {
            // A version-1 client never meets a new code: it hears "busy, try again".
            return Verdict::Refused(ErrorCode::TooManyConnections, "version_1");
        }
        let Some(proof) = proof else {
            return Verdict::Refused(ErrorCode::ProofRequired, "missing");
        };
        match self.verify(limits, proof, now) {
            Ok(()) => Verdict::Admitted,
            Err(reason) if reason == "full" => {
                Verdict::Refused(ErrorCode::TooManyConnections, reason)
            }
            Err(reason) => Verdict::Refused(ErrorCode::ProofRejected, reason),
        }
    }

    fn verify(&self, limits: &Limits, proof: &str, now: Instant) -> Result<(), &'static str> {
        if !self.key_ok {
            return Err("invalid");
        }
        let (challenge, nonce) = proof.split_once('.').ok_or("invalid")?;
        let nonce: u64 = nonce.parse().map_err(|_| "invalid")?;
        let bytes = URL_SAFE_NO_PAD.decode(challenge).map_err(|_| "invalid")?;
        if bytes.len() != CHALLENGE_LEN {
            return Err("invalid");
        }
        let (signed, tag) = bytes.split_at(SIGNED_LEN);
        self.tag(signed).verify_slice(tag).map_err(|_| "invalid")?;
        let (head, rest) = signed.split_at(2);
        let (issued, random) = rest.split_at(8);
        let [version, difficulty] = <[u8; 2]>::try_from(head).map_err(|_| "invalid")?;
        if version != VERSION || difficulty < limits.admission_difficulty {
            return Err("invalid");
        }
        let issued = u64::from_be_bytes(<[u8; 8]>::try_from(issued).map_err(|_| "invalid")?);
        let validity = u64::try_from(limits.admission_validity.as_millis()).unwrap_or(u64::MAX);
        if self.millis(now) > issued.saturating_add(validity) {
            return Err("expired");
        }
        let digest = Sha256::new()
            .chain_update(&bytes)
            .chain_update(nonce.to_be_bytes())
            .finalize();
        if leading_zero_bits(&digest) < u32::from(difficulty) {
            return Err("invalid");
        }
        let random = <[u8; 16]>::try_from(random).map_err(|_| "invalid")?;
        let mut inner = self.lock();
        while inner.order.front().is_some_and(|(until, _)| *until <= now) {
            if let Some((_, gone)) = inner.order.pop_front() {
                inner.spent.remove(&gone);
            }
        }
        if inner.spent.contains(&random) {
            return Err("reused");
        }
        if inner.spent.len() >= MAX_SPENT {
            return Err("full");
        }
        inner.spent.insert(random);
        // Kept until the challenge could no longer be accepted anyway.
        let expires = self.born + Duration::from_millis(issued.saturating_add(validity) + 1);
        inner.order.push_back((expires.max(now), random));
        Ok(())
    }
}

/// Solves a challenge (the unit tests; clients have their own).
#[cfg(test)]
fn solve(challenge: &str, difficulty: u8) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(challenge).ok()?;
    (0..u64::MAX).find(|nonce| {
        let digest = Sha256::new()
            .chain_update(&bytes)
            .chain_update(nonce.to_be_bytes())
            .finalize();
        leading_zero_bits(&digest) >= u32::from(difficulty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn always(difficulty: u8) -> Limits {
        Limits {
            admission: AdmissionMode::Always,
            admission_difficulty: difficulty,
            ..Limits::default()
        }
    }

    #[test]
    fn a_solved_challenge_admits_once() {
        let gate = Admission::new();
        let limits = always(8);
        let now = Instant::now();
        let c = gate.issue(&limits, 0, now).unwrap();
        assert!(c.required);
        let nonce = solve(&c.challenge, 8).unwrap();
        let proof = format!("{}.{nonce}", c.challenge);
        assert_eq!(
            gate.check(&limits, 0, true, Some(&proof), now),
            Verdict::Admitted
        );
        assert_eq!(
            gate.check(&limits, 0, true, Some(&proof), now),
            Verdict::Refused(ErrorCode::ProofRejected, "reused")
        );
        let later = now + limits.admission_validity + Duration::from_millis(5);
        let c = gate.issue(&limits, 0, now).unwrap();
        let nonce = solve(&c.challenge, 8).unwrap();
        let proof = format!("{}.{nonce}", c.challenge);
        assert_eq!(
            gate.check(&limits, 0, true, Some(&proof), later),
            Verdict::Refused(ErrorCode::ProofRejected, "expired")
        );
        // Another relay's (another key's) challenge is not ours.
        let other = Admission::new();
        let c = other.issue(&limits, 0, now).unwrap();
        let nonce = solve(&c.challenge, 8).unwrap();
        let proof = format!("{}.{nonce}", c.challenge);
        assert_eq!(
            gate.check(&limits, 0, true, Some(&proof), now),
            Verdict::Refused(ErrorCode::ProofRejected, "invalid")
        );
        assert_eq!(
            gate.check(&limits, 0, true, None, now),
            Verdict::Refused(ErrorCode::ProofRequired, "missing")
        );
        assert_eq!(
            gate.check(&limits, 0, false, None, now),
            Verdict::Refused(ErrorCode::TooManyConnections, "version_1")
        );
    }

    #[test]
    fn auto_closes_under_load_and_opens_after_the_hold() {
        let gate = Admission::new();
        let limits = Limits {
            admission_new_per_second: 3,
            admission_open_connections: 100,
            ..Limits::default()
        };
        let now = Instant::now();
        assert_eq!(gate.check(&limits, 0, false, None, now), Verdict::Open);
        assert_eq!(gate.check(&limits, 0, false, None, now), Verdict::Open);
        assert!(matches!(
            gate.check(&limits, 0, false, None, now),
            Verdict::Refused(..)
        ));
        let after = now + ADMISSION_HOLD + Duration::from_secs(3);
        assert_eq!(gate.check(&limits, 0, false, None, after), Verdict::Open);
        assert!(matches!(
            gate.check(&limits, 100, true, None, after),
            Verdict::Refused(ErrorCode::ProofRequired, _)
        ));
        let off = Limits {
            admission: AdmissionMode::Off,
            ..limits
        };
        assert_eq!(gate.check(&off, 10_000, false, None, after), Verdict::Open);
    }
}
