//! Feature `admission` (`proto/spec.md`, "Admission"): every socket the SDK opens says
//! `?features=admission`; a relay under load answers `proof_required` (or
//! `proof_rejected`), and the SDK fetches a challenge from `GET /v1/admission`, solves it on
//! a blocking thread (never on the async executor: the work is ~2^difficulty SHA-256) and
//! opens the socket again with `&proof=`.

use std::time::Duration;

use confidant_proto::admission::{ADMISSION_PATH, PROOF_PARAMETER, leading_zero_bits};
use confidant_proto::{AdmissionChallenge, ErrorCode, FEATURE_ADMISSION};
use sha2::{Digest as _, Sha256};

use crate::error::ClientError;
use crate::program_directory::http_get;
use crate::transport::{Endpoint, TlsTrust};

/// The most difficulty the SDK will pay: 2^24 hashes is seconds on a phone; a relay that
/// asks more is refused rather than obeyed (a hostile relay could otherwise burn the
/// battery).
pub(crate) const MAX_DIFFICULTY: u8 = 24;

/// How many proofs one connection attempt may earn (a stale or reused proof gets one more
/// try with a fresh challenge).
pub(crate) const TRIES: usize = 2;

/// Whether a relay refusal asks for a (new) proof.
pub(crate) fn asks_for_proof(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Relay {
            code: ErrorCode::ProofRequired | ErrorCode::ProofRejected,
            ..
        }
    )
}

/// `url` with the feature declared, and the proof when there is one.
pub(crate) fn url(base: &str, proof: Option<&str>) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    match proof {
        Some(proof) => {
            format!("{base}{separator}features={FEATURE_ADMISSION}&{PROOF_PARAMETER}={proof}")
        }
        None => format!("{base}{separator}features={FEATURE_ADMISSION}"),
    }
}

/// Fetches a challenge and solves it; the proof's query value.
pub(crate) async fn earn_proof(
    base: &str,
    trust: &TlsTrust,
    timeout: Duration,
) -> Result<String, ClientError> {
    let endpoint = Endpoint::parse(base)?;
    let body = tokio::time::timeout(timeout, http_get(&endpoint, trust, ADMISSION_PATH))
        .await
        .map_err(|_| ClientError::Timeout)??;
    let challenge: AdmissionChallenge = serde_json::from_slice(&body).map_err(|_| {
        ClientError::ProtocolViolation("GET /v1/admission did not return a challenge".to_owned())
    })?;
    if challenge.difficulty > MAX_DIFFICULTY {
        return Err(ClientError::ProtocolViolation(format!(
            "the relay asks a proof of {} bits (at most {MAX_DIFFICULTY})",
            challenge.difficulty
        )));
    }
    let started = std::time::Instant::now();
    let text = challenge.challenge.clone();
    let nonce = tokio::task::spawn_blocking(move || solve(&text, challenge.difficulty))
        .await
        .map_err(|_| ClientError::ProtocolViolation("the proof of work failed".to_owned()))?
        .ok_or_else(|| ClientError::ProtocolViolation("invalid admission challenge".to_owned()))?;
    tracing::debug!(
        difficulty = challenge.difficulty,
        millis = started.elapsed().as_millis(),
        "admission proof solved"
    );
    Ok(confidant_proto::admission::proof_value(
        &challenge.challenge,
        nonce,
    ))
}

/// The smallest nonce whose SHA-256(challenge bytes || nonce, 8 bytes big-endian) starts
/// with `difficulty` zero bits; `None` if the challenge is not base64url.
pub fn solve(challenge: &str, difficulty: u8) -> Option<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(challenge)
        .ok()?;
    let prefix = Sha256::new().chain_update(&bytes);
    (0..u64::MAX).find(|nonce| {
        let digest = prefix.clone().chain_update(nonce.to_be_bytes()).finalize();
        leading_zero_bits(&digest) >= u32::from(difficulty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_declares_the_feature_and_carries_the_proof() {
        assert_eq!(
            url("ws://h:1/v1/ws", None),
            "ws://h:1/v1/ws?features=admission"
        );
        assert_eq!(
            url("ws://h:1/v1/ws?x=1", Some("abc.7")),
            "ws://h:1/v1/ws?x=1&features=admission&proof=abc.7"
        );
    }

    #[test]
    fn a_solution_has_the_zero_bits() {
        let nonce = solve("AAEC", 10).unwrap();
        let digest = Sha256::new()
            .chain_update([0u8, 1, 2])
            .chain_update(nonce.to_be_bytes())
            .finalize();
        assert!(leading_zero_bits(&digest) >= 10);
        assert!(solve("not base64!", 4).is_none());
    }
}
