//! The chat handshake: `Noise_NK_25519_ChaChaPoly_SHA256` with a certificate-bound prologue.
//!
//! The seeker is the anonymous initiator and knows the supporter's static key from the
//! certificate it has just verified. Binding SHA-256 of that exact certificate into the
//! prologue means a relay that swaps certificates breaks the handshake instead of steering the
//! seeker to another key. Both handshake messages carry empty payloads: the seeker sends
//! content only once msg2 has given it forward secrecy against a later supporter-key leak.

use sha2::{Digest, Sha256};
use snow::params::NoiseParams;
use snow::{Builder, HandshakeState};
use zeroize::Zeroizing;

use crate::keys::SupporterSecret;
use crate::mlkem::{self, MLKEM768_CIPHERTEXT_LEN, MlKemSecret};
use crate::noise_error::NoiseError;
use crate::noise_resolver::ConfidantResolver;
use crate::session::ChatSession;

/// The Noise protocol name; both sides must use exactly this suite.
pub const PROTOCOL_NAME: &str = "Noise_NK_25519_ChaChaPoly_SHA256";

/// The Noise protocol name of the hybrid chat (`proto/crypto.md` §2.1): NK with the ML-KEM
/// shared secret, through HKDF, as the PSK mixed in at the end of msg2.
pub const HYBRID_PROTOCOL_NAME: &str = "Noise_NKpsk2_25519_ChaChaPoly_SHA256";

/// Length of a hybrid msg1: `e` (32) `||` the encrypted ML-KEM-768 ciphertext (1088 + 16).
pub const HYBRID_MSG1_LEN: usize = 32 + MLKEM768_CIPHERTEXT_LEN + 16;

/// Version of the Confidant chat protocol carried in the prologue label.
pub const PROTOCOL_VERSION: u8 = 1;

/// First part of the chat prologue; the second part is SHA-256 of the supporter certificate.
pub const CHAT_PROLOGUE_LABEL: &[u8] = b"confidant-v1-chat";

/// Largest Noise message we ever produce or accept: the largest padding bucket plus the tag.
pub const MAX_NOISE_MESSAGE: usize = 16384 + 16;

/// Length of msg1 (`e, es` + empty payload tag) and msg2 (`e, ee` + empty payload tag).
pub const HANDSHAKE_MESSAGE_LEN: usize = 32 + 16;

/// SHA-256 of the supporter certificate's wire bytes (the prologue's and the PSK's salt).
fn certificate_hash(certificate: &[u8]) -> [u8; 32] {
    Sha256::digest(certificate).into()
}

/// Builds `label || SHA-256(certificate)`, the prologue both sides must agree on.
pub(crate) fn prologue(label: &[u8], certificate: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len().saturating_add(32));
    out.extend_from_slice(label);
    out.extend_from_slice(Sha256::digest(certificate).as_slice());
    out
}

/// The chat prologue with the chat's agreed chat features bound in (`proto/crypto.md` §2):
/// with none, exactly the version-1 prologue; otherwise it is followed by the number of
/// features (u8) and each name, in ascending byte order, as u8 length `||` bytes. Both clients
/// compute the agreed set themselves (their own list ∩ the partner's list as the relay passed
/// it), so a relay that alters either list makes the prologues differ and the handshake fail.
///
/// # Errors
/// `Internal` for more than 255 names or a name longer than 255 bytes (the protocol allows
/// 32 names of 64 bytes).
pub fn chat_prologue(certificate: &[u8], agreed: &[&str]) -> Result<Vec<u8>, NoiseError> {
    let mut out = prologue(CHAT_PROLOGUE_LABEL, certificate);
    if agreed.is_empty() {
        return Ok(out);
    }
    let mut names: Vec<&[u8]> = agreed.iter().map(|name| name.as_bytes()).collect();
    names.sort_unstable();
    names.dedup();
    out.push(u8::try_from(names.len()).map_err(|_| NoiseError::Internal)?);
    for name in names {
        out.push(u8::try_from(name.len()).map_err(|_| NoiseError::Internal)?);
        out.extend_from_slice(name);
    }
    Ok(out)
}

/// The chat features both sides declared: `own` ∩ `partner`, in ascending order.
#[must_use]
pub fn agreed_chat_features<'a>(own: &'a [String], partner: &[String]) -> Vec<&'a str> {
    let mut agreed: Vec<&str> = own
        .iter()
        .filter(|name| partner.contains(name))
        .map(String::as_str)
        .collect();
    agreed.sort_unstable();
    agreed.dedup();
    agreed
}

fn params(name: &str) -> Result<NoiseParams, NoiseError> {
    name.parse().map_err(|_| NoiseError::Internal)
}

/// An NK initiator towards `peer_static`, optionally with a fixed ephemeral (tests only).
pub(crate) fn build_initiator(
    prologue: &[u8],
    peer_static: &[u8; 32],
    ephemeral: Option<&[u8; 32]>,
) -> Result<HandshakeState, NoiseError> {
    build_initiator_named(PROTOCOL_NAME, prologue, peer_static, ephemeral)
}

fn build_initiator_named(
    name: &str,
    prologue: &[u8],
    peer_static: &[u8; 32],
    ephemeral: Option<&[u8; 32]>,
) -> Result<HandshakeState, NoiseError> {
    let mut builder = Builder::with_resolver(params(name)?, Box::new(ConfidantResolver))
        .prologue(prologue)
        .map_err(|_| NoiseError::Internal)?
        .remote_public_key(peer_static)
        .map_err(|_| NoiseError::Internal)?;
    if let Some(e) = ephemeral {
        builder = builder.fixed_ephemeral_key_for_testing_only(e);
    }
    builder
        .build_initiator()
        .map_err(|e| NoiseError::from_handshake(&e))
}

/// An NK responder holding `secret`, optionally with a fixed ephemeral (tests only).
pub(crate) fn build_responder(
    prologue: &[u8],
    secret: &SupporterSecret,
    ephemeral: Option<&[u8; 32]>,
) -> Result<HandshakeState, NoiseError> {
    build_responder_named(PROTOCOL_NAME, prologue, secret, ephemeral)
}

fn build_responder_named(
    name: &str,
    prologue: &[u8],
    secret: &SupporterSecret,
    ephemeral: Option<&[u8; 32]>,
) -> Result<HandshakeState, NoiseError> {
    let private = secret.to_bytes();
    let mut builder = Builder::with_resolver(params(name)?, Box::new(ConfidantResolver))
        .prologue(prologue)
        .map_err(|_| NoiseError::Internal)?
        .local_private_key(private.as_slice())
        .map_err(|_| NoiseError::Internal)?;
    if let Some(e) = ephemeral {
        builder = builder.fixed_ephemeral_key_for_testing_only(e);
    }
    builder
        .build_responder()
        .map_err(|e| NoiseError::from_handshake(&e))
}

/// Writes one handshake message with `payload`; `expected_len` is the only valid result.
pub(crate) fn write_handshake(
    state: &mut HandshakeState,
    payload: &[u8],
    expected_len: usize,
) -> Result<Vec<u8>, NoiseError> {
    let mut out = vec![0_u8; expected_len];
    let n = state
        .write_message(payload, &mut out)
        .map_err(|e| NoiseError::from_handshake(&e))?;
    if n != expected_len {
        return Err(NoiseError::Internal);
    }
    Ok(out)
}

/// Reads one handshake message that must be exactly `expected_len` bytes and carry a payload
/// of exactly `payload_len` bytes.
pub(crate) fn read_handshake(
    state: &mut HandshakeState,
    message: &[u8],
    expected_len: usize,
    payload_len: usize,
) -> Result<Zeroizing<Vec<u8>>, NoiseError> {
    if message.len() > MAX_NOISE_MESSAGE {
        return Err(NoiseError::MessageTooLarge);
    }
    if message.len() != expected_len {
        return Err(NoiseError::MalformedHandshake);
    }
    let mut payload = Zeroizing::new(vec![0_u8; expected_len]);
    let n = state
        .read_message(message, &mut payload)
        .map_err(|e| NoiseError::from_handshake(&e))?;
    if n != payload_len {
        return Err(NoiseError::UnexpectedPayload);
    }
    payload.truncate(n);
    Ok(payload)
}

/// Copies snow's handshake hash `h` out before the handshake state is consumed.
pub(crate) fn handshake_hash(state: &HandshakeState) -> Result<[u8; 32], NoiseError> {
    state
        .get_handshake_hash()
        .try_into()
        .map_err(|_| NoiseError::Internal)
}

/// The seeker's half-finished handshake, waiting for msg2.
///
/// Holding it is the only way to finish, so a seeker cannot accidentally send content before
/// the responder's ephemeral has been mixed in.
pub struct SeekerHandshake {
    state: HandshakeState,
}

impl std::fmt::Debug for SeekerHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeekerHandshake").finish_non_exhaustive()
    }
}

impl SeekerHandshake {
    /// Starts a chat towards the supporter whose verified certificate names `peer_static`.
    ///
    /// `supporter_certificate` must be the exact wire bytes the seeker verified (signature
    /// included); returns the state to keep and msg1 to send.
    ///
    /// # Errors
    /// `NonContributory` if `peer_static` is a low-order key, `Rng` if randomness fails.
    pub fn start(
        peer_static: &[u8; 32],
        supporter_certificate: &[u8],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        Self::start_inner(peer_static, supporter_certificate, &[], None)
    }

    /// Like [`SeekerHandshake::start`], with the chat's agreed chat features bound into the
    /// prologue ([`chat_prologue`]); with none it is exactly `start`.
    ///
    /// # Errors
    /// As for [`SeekerHandshake::start`].
    pub fn start_bound(
        peer_static: &[u8; 32],
        supporter_certificate: &[u8],
        agreed: &[&str],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        Self::start_inner(peer_static, supporter_certificate, agreed, None)
    }

    /// Like [`SeekerHandshake::start`] with a fixed ephemeral private key.
    ///
    /// Only for test vectors: reusing an ephemeral destroys the handshake's security.
    ///
    /// # Errors
    /// As for [`SeekerHandshake::start`].
    #[doc(hidden)]
    pub fn start_with_ephemeral(
        peer_static: &[u8; 32],
        supporter_certificate: &[u8],
        ephemeral: &[u8; 32],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        Self::start_inner(peer_static, supporter_certificate, &[], Some(ephemeral))
    }

    /// Starts the chat the verified certificate calls for: the hybrid handshake
    /// (`Noise_NKpsk2`, [`HYBRID_PROTOCOL_NAME`]) when it carries an ML-KEM-768 key
    /// (`mlkem_public`), plain NK otherwise. The choice is the certificate's alone — signed by
    /// the issuer and hashed into the prologue — so a relay can neither strip the key nor
    /// make a seeker fall back to X25519 alone for a certificate that offers ML-KEM.
    ///
    /// # Errors
    /// As for [`SeekerHandshake::start`]; `InvalidKemKey` for an ML-KEM key that fails the
    /// FIPS 203 modulus check.
    pub fn start_for_certificate(
        peer_static: &[u8; 32],
        mlkem_public: Option<&[u8]>,
        supporter_certificate: &[u8],
        agreed: &[&str],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        match mlkem_public {
            None => Self::start_inner(peer_static, supporter_certificate, agreed, None),
            Some(public) => {
                let mut m = Zeroizing::new([0_u8; 32]);
                crate::random::fill(m.as_mut_slice()).map_err(|_| NoiseError::Rng)?;
                Self::start_hybrid_inner(
                    peer_static,
                    public,
                    supporter_certificate,
                    agreed,
                    None,
                    &m,
                )
            }
        }
    }

    /// The hybrid start with a fixed ephemeral and a fixed ML-KEM `m` (test vectors only:
    /// reusing either destroys the handshake's security).
    ///
    /// # Errors
    /// As for [`SeekerHandshake::start_for_certificate`].
    #[doc(hidden)]
    pub fn start_hybrid_with_randomness(
        peer_static: &[u8; 32],
        mlkem_public: &[u8],
        supporter_certificate: &[u8],
        agreed: &[&str],
        ephemeral: &[u8; 32],
        m: &[u8; 32],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        Self::start_hybrid_inner(
            peer_static,
            mlkem_public,
            supporter_certificate,
            agreed,
            Some(ephemeral),
            m,
        )
    }

    fn start_inner(
        peer_static: &[u8; 32],
        supporter_certificate: &[u8],
        agreed: &[&str],
        ephemeral: Option<&[u8; 32]>,
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        let prologue = chat_prologue(supporter_certificate, agreed)?;
        let mut state = build_initiator(&prologue, peer_static, ephemeral)?;
        let msg1 = write_handshake(&mut state, &[], HANDSHAKE_MESSAGE_LEN)?;
        Ok((Self { state }, msg1))
    }

    fn start_hybrid_inner(
        peer_static: &[u8; 32],
        mlkem_public: &[u8],
        supporter_certificate: &[u8],
        agreed: &[&str],
        ephemeral: Option<&[u8; 32]>,
        m: &[u8; 32],
    ) -> Result<(Self, Vec<u8>), NoiseError> {
        let (ciphertext, shared) = mlkem::encapsulate_with(mlkem_public, m)?;
        let prologue = chat_prologue(supporter_certificate, agreed)?;
        let mut state =
            build_initiator_named(HYBRID_PROTOCOL_NAME, &prologue, peer_static, ephemeral)?;
        // msg1 = e, es, payload: the ML-KEM ciphertext, encrypted and authenticated under the
        // es key and mixed into h, so the transcript binds it.
        let msg1 = write_handshake(&mut state, &ciphertext, HYBRID_MSG1_LEN)?;
        let psk = mlkem::hybrid_psk(&shared, &certificate_hash(supporter_certificate));
        state
            .set_psk(2, psk.as_slice())
            .map_err(|_| NoiseError::Internal)?;
        Ok((Self { state }, msg1))
    }

    /// Completes the handshake with the supporter's msg2.
    ///
    /// # Errors
    /// `MalformedHandshake` for a wrong length, `HandshakeDecrypt` if msg2 does not
    /// authenticate, `NonContributory` for a low-order ephemeral.
    pub fn finish(mut self, msg2: &[u8]) -> Result<ChatSession, NoiseError> {
        read_handshake(&mut self.state, msg2, HANDSHAKE_MESSAGE_LEN, 0)?;
        let hash = handshake_hash(&self.state)?;
        let transport = self
            .state
            .into_transport_mode()
            .map_err(|e| NoiseError::from_handshake(&e))?;
        Ok(ChatSession::new(transport, hash))
    }
}

/// The supporter's side of the chat handshake: one call from msg1 to a live session.
#[derive(Debug, Clone, Copy)]
pub struct PeerHandshake;

impl PeerHandshake {
    /// Answers a seeker's msg1 with the static secret matching `supporter_certificate`.
    ///
    /// Returns the session and msg2 to send back.
    ///
    /// # Errors
    /// `MalformedHandshake` for a wrong length (which includes any content in msg1),
    /// `HandshakeDecrypt` if msg1 was made for another key or certificate, `NonContributory`
    /// for a low-order ephemeral.
    pub fn respond(
        secret: &SupporterSecret,
        supporter_certificate: &[u8],
        msg1: &[u8],
    ) -> Result<(ChatSession, Vec<u8>), NoiseError> {
        Self::respond_inner(secret, supporter_certificate, &[], msg1, None)
    }

    /// Like [`PeerHandshake::respond`], with the chat's agreed chat features bound into the
    /// prologue ([`chat_prologue`]); with none it is exactly `respond`.
    ///
    /// # Errors
    /// As for [`PeerHandshake::respond`].
    pub fn respond_bound(
        secret: &SupporterSecret,
        supporter_certificate: &[u8],
        agreed: &[&str],
        msg1: &[u8],
    ) -> Result<(ChatSession, Vec<u8>), NoiseError> {
        Self::respond_inner(secret, supporter_certificate, agreed, msg1, None)
    }

    /// Like [`PeerHandshake::respond`] with a fixed ephemeral private key (test vectors only).
    ///
    /// # Errors
    /// As for [`PeerHandshake::respond`].
    #[doc(hidden)]
    pub fn respond_with_ephemeral(
        secret: &SupporterSecret,
        supporter_certificate: &[u8],
        msg1: &[u8],
        ephemeral: &[u8; 32],
    ) -> Result<(ChatSession, Vec<u8>), NoiseError> {
        Self::respond_inner(secret, supporter_certificate, &[], msg1, Some(ephemeral))
    }

    /// Answers msg1 as the supporter's own certificate calls for: with an ML-KEM key
    /// (`mlkem`, whose public half the certificate carries) only the hybrid handshake is
    /// accepted — a 48-byte plain msg1, as a relay that stripped the ciphertext would send,
    /// is `MalformedHandshake` — and without one, plain NK as in [`PeerHandshake::respond_bound`].
    ///
    /// # Errors
    /// As for [`PeerHandshake::respond`]; for the hybrid handshake a msg1 that is not
    /// [`HYBRID_MSG1_LEN`] bytes is `MalformedHandshake`, and a ciphertext the relay altered
    /// makes msg1 fail to decrypt (`HandshakeDecrypt`).
    pub fn respond_for_certificate(
        secret: &SupporterSecret,
        mlkem: Option<&MlKemSecret>,
        supporter_certificate: &[u8],
        agreed: &[&str],
        msg1: &[u8],
    ) -> Result<(ChatSession, Vec<u8>), NoiseError> {
        match mlkem {
            None => Self::respond_inner(secret, supporter_certificate, agreed, msg1, None),
            Some(kem) => {
                Self::respond_hybrid_inner(secret, kem, supporter_certificate, agreed, msg1, None)
            }
        }
    }

    /// The hybrid answer with a fixed ephemeral (test vectors only).
    ///
    /// # Errors
    /// As for [`PeerHandshake::respond_for_certificate`].
    #[doc(hidden)]
    pub fn respond_hybrid_with_ephemeral(
        secret: &SupporterSecret,
        mlkem: &MlKemSecret,
        supporter_certificate: &[u8],
        agreed: &[&str],
        msg1: &[u8],
        ephemeral: &[u8; 32],
    ) -> Result<(ChatSession, Vec<u8>), NoiseError> {
        Self::respond_hybrid_inner(
            secret,
            mlkem,
            supporter_certificate,
            agreed,
            msg1,
            Some(ephemeral),
        )
    }

    fn respond_hybrid_inner(
        secret: &SupporterSecret,
        mlkem: &MlKemSecret,
        supporter_certificate: &[u8],
        agreed: &[&str],
        msg1: &[u8],
        ephemeral: Option<&[u8; 32]>,
    ) -> Result<(ChatSession, Vec<u8>), NoiseError> {
        let prologue = chat_prologue(supporter_certificate, agreed)?;
        let mut state = build_responder_named(HYBRID_PROTOCOL_NAME, &prologue, secret, ephemeral)?;
        let ciphertext =
            read_handshake(&mut state, msg1, HYBRID_MSG1_LEN, MLKEM768_CIPHERTEXT_LEN)?;
        let shared = mlkem.decapsulate(&ciphertext)?;
        let psk = mlkem::hybrid_psk(&shared, &certificate_hash(supporter_certificate));
        state
            .set_psk(2, psk.as_slice())
            .map_err(|_| NoiseError::Internal)?;
        let msg2 = write_handshake(&mut state, &[], HANDSHAKE_MESSAGE_LEN)?;
        let hash = handshake_hash(&state)?;
        let transport = state
            .into_transport_mode()
            .map_err(|e| NoiseError::from_handshake(&e))?;
        Ok((ChatSession::new(transport, hash), msg2))
    }

    fn respond_inner(
        secret: &SupporterSecret,
        supporter_certificate: &[u8],
        agreed: &[&str],
        msg1: &[u8],
        ephemeral: Option<&[u8; 32]>,
    ) -> Result<(ChatSession, Vec<u8>), NoiseError> {
        let prologue = chat_prologue(supporter_certificate, agreed)?;
        let mut state = build_responder(&prologue, secret, ephemeral)?;
        read_handshake(&mut state, msg1, HANDSHAKE_MESSAGE_LEN, 0)?;
        let msg2 = write_handshake(&mut state, &[], HANDSHAKE_MESSAGE_LEN)?;
        let hash = handshake_hash(&state)?;
        let transport = state
            .into_transport_mode()
            .map_err(|e| NoiseError::from_handshake(&e))?;
        Ok((ChatSession::new(transport, hash), msg2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    fn pair() -> (ChatSession, ChatSession) {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let cert = b"certificate bytes";
        let (hs, msg1) = SeekerHandshake::start(&secret.public(), cert).expect("start");
        let (peer, msg2) = PeerHandshake::respond(&secret, cert, &msg1).expect("respond");
        let seeker = hs.finish(&msg2).expect("finish");
        (seeker, peer)
    }

    #[test]
    fn chat_features_are_bound_into_the_prologue() {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let cert = b"certificate bytes";
        assert_eq!(
            chat_prologue(cert, &[]).expect("empty"),
            prologue(CHAT_PROLOGUE_LABEL, cert)
        );
        let both = chat_prologue(cert, &["b", "a"]).expect("two");
        assert_eq!(&both[49..], b"\x02\x01a\x01b");
        // Same sets agree; a set the relay altered on one side does not.
        let (hs, msg1) = SeekerHandshake::start_bound(&secret.public(), cert, &["x-a"]).expect("s");
        let (_, msg2) =
            PeerHandshake::respond_bound(&secret, cert, &["x-a"], &msg1).expect("respond");
        hs.finish(&msg2).expect("same features agree");
        let (_, msg1) = SeekerHandshake::start_bound(&secret.public(), cert, &["x-a"]).expect("s");
        assert_eq!(
            PeerHandshake::respond_bound(&secret, cert, &[], &msg1).err(),
            Some(NoiseError::HandshakeDecrypt)
        );
        let own = vec!["b".to_owned(), "a".to_owned(), "c".to_owned()];
        let partner = vec!["c".to_owned(), "a".to_owned()];
        assert_eq!(agreed_chat_features(&own, &partner), vec!["a", "c"]);
    }

    #[test]
    fn handshake_then_chat() {
        let (mut seeker, mut peer) = pair();
        assert_eq!(seeker.handshake_hash(), peer.handshake_hash());
        let ct = seeker.seal(&Record::Text("hi".into())).expect("seal");
        assert_eq!(ct.len(), 256 + 16);
        assert_eq!(peer.open(&ct).expect("open"), Record::Text("hi".into()));
        let ct = peer.seal(&Record::Typing(true)).expect("seal");
        assert_eq!(seeker.open(&ct).expect("open"), Record::Typing(true));
    }

    fn hybrid_pair() -> (SupporterSecret, MlKemSecret) {
        (
            SupporterSecret::from_bytes([3; 32]),
            MlKemSecret::from_seed(&[5; 64]),
        )
    }

    #[test]
    fn hybrid_handshake_then_chat() {
        let cert = b"certificate with an ml-kem key";
        let (secret, kem) = hybrid_pair();
        let public = kem.public();
        let (hs, msg1) =
            SeekerHandshake::start_for_certificate(&secret.public(), Some(&public), cert, &["x-a"])
                .expect("start");
        assert_eq!(msg1.len(), HYBRID_MSG1_LEN);
        assert_eq!(msg1.len(), 1136);
        let (mut peer, msg2) =
            PeerHandshake::respond_for_certificate(&secret, Some(&kem), cert, &["x-a"], &msg1)
                .expect("respond");
        assert_eq!(msg2.len(), HANDSHAKE_MESSAGE_LEN);
        let mut seeker = hs.finish(&msg2).expect("finish");
        assert_eq!(seeker.handshake_hash(), peer.handshake_hash());
        let ct = seeker.seal(&Record::Text("hi".into())).expect("seal");
        assert_eq!(peer.open(&ct).expect("open"), Record::Text("hi".into()));
        // Without a key in the certificate the same call is plain NK (48 bytes).
        let (_, plain) =
            SeekerHandshake::start_for_certificate(&secret.public(), None, cert, &[]).expect("s");
        assert_eq!(plain.len(), HANDSHAKE_MESSAGE_LEN);
    }

    /// Downgrade: a peer whose certificate carries an ML-KEM key refuses a plain msg1 (what a
    /// relay stripping the ciphertext would forward), an altered ciphertext, and a msg1 made
    /// with another ML-KEM key; a seeker given a hybrid certificate never sends plain NK.
    #[test]
    fn hybrid_cannot_be_downgraded_or_altered() {
        let cert = b"hybrid certificate";
        let (secret, kem) = hybrid_pair();
        let public = kem.public();
        let (_, plain) = SeekerHandshake::start(&secret.public(), cert).expect("plain");
        assert_eq!(
            PeerHandshake::respond_for_certificate(&secret, Some(&kem), cert, &[], &plain).err(),
            Some(NoiseError::MalformedHandshake)
        );
        let (_, msg1) =
            SeekerHandshake::start_for_certificate(&secret.public(), Some(&public), cert, &[])
                .expect("start");
        // The ciphertext is the encrypted payload: flipping any of its bytes fails the tag.
        for i in [32, 32 + 500, 32 + 1087, 32 + 1088 + 3] {
            let mut bad = msg1.clone();
            bad[i] ^= 1;
            assert_eq!(
                PeerHandshake::respond_for_certificate(&secret, Some(&kem), cert, &[], &bad).err(),
                Some(NoiseError::HandshakeDecrypt),
                "byte {i}"
            );
        }
        // Only the e and tag of msg1, as a stripping relay would send: wrong length.
        let stripped: Vec<u8> = msg1[..32].iter().chain(&msg1[1120..]).copied().collect();
        assert_eq!(
            PeerHandshake::respond_for_certificate(&secret, Some(&kem), cert, &[], &stripped).err(),
            Some(NoiseError::MalformedHandshake)
        );
        // A hybrid msg1 to a peer that answers as plain NK (an old peer) fails too.
        assert_eq!(
            PeerHandshake::respond_for_certificate(&secret, None, cert, &[], &msg1).err(),
            Some(NoiseError::MalformedHandshake)
        );
        // Another ML-KEM key decapsulates to another secret: msg2 does not authenticate.
        let other = MlKemSecret::from_seed(&[6; 64]);
        let (hs, msg1) =
            SeekerHandshake::start_for_certificate(&secret.public(), Some(&public), cert, &[])
                .expect("start");
        let (_, msg2) =
            PeerHandshake::respond_for_certificate(&secret, Some(&other), cert, &[], &msg1)
                .expect("the peer cannot tell");
        assert_eq!(hs.finish(&msg2).err(), Some(NoiseError::HandshakeDecrypt));
        // A key that fails the modulus check is refused before anything is sent.
        assert_eq!(
            SeekerHandshake::start_for_certificate(
                &secret.public(),
                Some(&[0xff; 1184]),
                cert,
                &[]
            )
            .err(),
            Some(NoiseError::InvalidKemKey)
        );
    }

    #[test]
    fn different_certificate_fails() {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let (_, msg1) = SeekerHandshake::start(&secret.public(), b"a").expect("start");
        let err = PeerHandshake::respond(&secret, b"b", &msg1).expect_err("must fail");
        assert_eq!(err, NoiseError::HandshakeDecrypt);
    }

    #[test]
    fn wrong_key_fails() {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let other = SupporterSecret::from_bytes([4; 32]);
        let (_, msg1) = SeekerHandshake::start(&secret.public(), b"a").expect("start");
        let err = PeerHandshake::respond(&other, b"a", &msg1).expect_err("must fail");
        assert_eq!(err, NoiseError::HandshakeDecrypt);
    }

    #[test]
    fn low_order_peer_static_rejected() {
        let err = SeekerHandshake::start(&[0; 32], b"a").expect_err("must fail");
        assert_eq!(err, NoiseError::NonContributory);
    }

    #[test]
    fn wrong_lengths_rejected() {
        let secret = SupporterSecret::from_bytes([3; 32]);
        let (hs, msg1) = SeekerHandshake::start(&secret.public(), b"a").expect("start");
        let mut long = msg1.clone();
        long.push(0);
        assert_eq!(
            PeerHandshake::respond(&secret, b"a", &long).expect_err("long"),
            NoiseError::MalformedHandshake
        );
        assert_eq!(
            hs.finish(&msg1[..47]).expect_err("short"),
            NoiseError::MalformedHandshake
        );
    }
}
