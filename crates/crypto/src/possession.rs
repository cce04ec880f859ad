//! Proof that a supporter holds the X25519 secret named in its certificate.
//!
//! The relay plays Noise NK initiator towards the certificate's key with a different prologue
//! (`confidant-v1-possession || SHA-256(certificate)`), puts 32 random bytes in msg1 and
//! expects them echoed in msg2. Only the key holder can read msg1, and msg2 is bound to this
//! run's relay ephemeral, so an answer recorded from an earlier challenge fails. The relay
//! never reaches transport mode and the prologue differs from the chat's, so nothing here can
//! decrypt or impersonate a chat.

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::handshake::{
    build_initiator, build_responder, prologue, read_handshake, write_handshake,
};
use crate::keys::SupporterSecret;
use crate::noise_error::NoiseError;
use crate::random;

/// Prologue label of the possession proof; keeps it apart from chat handshakes.
pub const POSSESSION_PROLOGUE_LABEL: &[u8] = b"confidant-v1-possession";

/// Length of the random challenge.
pub const CHALLENGE_LEN: usize = 32;

/// Length of the challenge message (ephemeral + encrypted challenge + tag) and of the answer.
pub const POSSESSION_MESSAGE_LEN: usize = 32 + CHALLENGE_LEN + 16;

/// The relay's pending challenge; verify the peer's answer with it exactly once.
pub struct PossessionChallenge {
    state: snow::HandshakeState,
    challenge: Zeroizing<[u8; CHALLENGE_LEN]>,
}

impl std::fmt::Debug for PossessionChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PossessionChallenge")
            .finish_non_exhaustive()
    }
}

impl PossessionChallenge {
    /// Creates a challenge for the holder of `x25519_public` (from `supporter_certificate`).
    ///
    /// Returns the pending state and the message to send to the peer.
    ///
    /// # Errors
    /// `NonContributory` for a low-order key, `Rng` if randomness fails.
    pub fn new(
        x25519_public: &[u8; 32],
        supporter_certificate: &[u8],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        let mut challenge = Zeroizing::new([0_u8; CHALLENGE_LEN]);
        random::fill(challenge.as_mut_slice()).map_err(|_| NoiseError::Rng)?;
        Self::new_inner(x25519_public, supporter_certificate, challenge, None)
    }

    /// Like [`PossessionChallenge::new`] with fixed ephemeral and challenge (test vectors only).
    ///
    /// # Errors
    /// As for [`PossessionChallenge::new`].
    #[doc(hidden)]
    pub fn new_deterministic(
        x25519_public: &[u8; 32],
        supporter_certificate: &[u8],
        ephemeral: &[u8; 32],
        challenge: [u8; CHALLENGE_LEN],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        Self::new_inner(
            x25519_public,
            supporter_certificate,
            Zeroizing::new(challenge),
            Some(ephemeral),
        )
    }

    fn new_inner(
        x25519_public: &[u8; 32],
        supporter_certificate: &[u8],
        challenge: Zeroizing<[u8; CHALLENGE_LEN]>,
        ephemeral: Option<&[u8; 32]>,
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        let prologue = prologue(POSSESSION_PROLOGUE_LABEL, supporter_certificate);
        let mut state = build_initiator(&prologue, x25519_public, ephemeral)?;
        let msg = write_handshake(&mut state, challenge.as_slice(), POSSESSION_MESSAGE_LEN)?;
        Ok((Self { state, challenge }, msg))
    }

    /// Accepts iff `answer` decrypts under this run's keys and echoes the challenge.
    ///
    /// # Errors
    /// `MalformedHandshake`, `HandshakeDecrypt` (forged or replayed answer),
    /// `NonContributory`, or `ChallengeMismatch`.
    pub fn verify(mut self, answer: &[u8]) -> Result<(), NoiseError> {
        let echoed = read_handshake(
            &mut self.state,
            answer,
            POSSESSION_MESSAGE_LEN,
            CHALLENGE_LEN,
        )?;
        if bool::from(echoed.as_slice().ct_eq(self.challenge.as_slice())) {
            Ok(())
        } else {
            Err(NoiseError::ChallengeMismatch)
        }
    }
}

/// The supporter's side: decrypt the relay's challenge and echo it back in msg2.
///
/// # Errors
/// `MalformedHandshake`, `HandshakeDecrypt` (challenge not for this key or certificate),
/// `NonContributory`, `Rng`.
pub fn answer_possession_challenge(
    secret: &SupporterSecret,
    supporter_certificate: &[u8],
    challenge: &[u8],
) -> Result<Vec<u8>, NoiseError> {
    answer_inner(secret, supporter_certificate, challenge, None)
}

/// Like [`answer_possession_challenge`] with a fixed ephemeral (test vectors only).
///
/// # Errors
/// As for [`answer_possession_challenge`].
#[doc(hidden)]
pub fn answer_possession_challenge_with_ephemeral(
    secret: &SupporterSecret,
    supporter_certificate: &[u8],
    challenge: &[u8],
    ephemeral: &[u8; 32],
) -> Result<Vec<u8>, NoiseError> {
    answer_inner(secret, supporter_certificate, challenge, Some(ephemeral))
}

fn answer_inner(
    secret: &SupporterSecret,
    supporter_certificate: &[u8],
    challenge: &[u8],
    ephemeral: Option<&[u8; 32]>,
) -> Result<Vec<u8>, NoiseError> {
    let prologue = prologue(POSSESSION_PROLOGUE_LABEL, supporter_certificate);
    let mut state = build_responder(&prologue, secret, ephemeral)?;
    let payload = read_handshake(&mut state, challenge, POSSESSION_MESSAGE_LEN, CHALLENGE_LEN)?;
    write_handshake(&mut state, &payload, POSSESSION_MESSAGE_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{PeerHandshake, SeekerHandshake};

    #[test]
    fn holder_passes() {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let (pending, msg) = PossessionChallenge::new(&secret.public(), b"cert").expect("new");
        let answer = answer_possession_challenge(&secret, b"cert", &msg).expect("answer");
        assert_eq!(pending.verify(&answer), Ok(()));
    }

    #[test]
    fn wrong_key_cannot_answer() {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let other = SupporterSecret::from_bytes([4; 32]);
        let (_, msg) = PossessionChallenge::new(&secret.public(), b"cert").expect("new");
        assert_eq!(
            answer_possession_challenge(&other, b"cert", &msg),
            Err(NoiseError::HandshakeDecrypt)
        );
    }

    #[test]
    fn replayed_answer_fails() {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let (first, msg1) = PossessionChallenge::new(&secret.public(), b"cert").expect("new");
        let answer1 = answer_possession_challenge(&secret, b"cert", &msg1).expect("answer");
        assert_eq!(first.verify(&answer1), Ok(()));
        let (second, _msg2) = PossessionChallenge::new(&secret.public(), b"cert").expect("new");
        assert_eq!(second.verify(&answer1), Err(NoiseError::HandshakeDecrypt));
    }

    #[test]
    fn chat_messages_are_not_possession_messages() {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let (_, chat_msg1) = SeekerHandshake::start(&secret.public(), b"cert").expect("start");
        assert!(answer_possession_challenge(&secret, b"cert", &chat_msg1).is_err());
        let (_, pmsg) = PossessionChallenge::new(&secret.public(), b"cert").expect("new");
        assert!(PeerHandshake::respond(&secret, b"cert", &pmsg).is_err());
    }

    #[test]
    fn echo_of_wrong_value_is_mismatch() {
        // A responder that decrypts correctly but answers with other bytes.
        let secret = SupporterSecret::from_bytes([3; 32]);
        let (pending, msg) = PossessionChallenge::new(&secret.public(), b"cert").expect("new");
        let prologue = prologue(POSSESSION_PROLOGUE_LABEL, b"cert");
        let mut state = build_responder(&prologue, &secret, None).expect("responder");
        read_handshake(&mut state, &msg, POSSESSION_MESSAGE_LEN, CHALLENGE_LEN).expect("read");
        let answer = write_handshake(&mut state, &[0; CHALLENGE_LEN], POSSESSION_MESSAGE_LEN)
            .expect("write");
        assert_eq!(pending.verify(&answer), Err(NoiseError::ChallengeMismatch));
    }
}
