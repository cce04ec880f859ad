//! An established chat: padded records in, ciphertext out, and no second chances.
//!
//! The first failure of any kind on the receive path (bad tag, bad length, bad record) drops
//! the transport keys at once and every later call answers `SessionBroken`. There is no
//! resynchronisation: a relay that drops, replays or reorders messages ends the chat instead
//! of silently editing it.

use snow::TransportState;
use zeroize::Zeroizing;

use crate::handshake::MAX_NOISE_MESSAGE;
use crate::noise_error::NoiseError;
use crate::record::{BUCKETS, Record, decode_padded, encode_padded};

/// Length of the ChaCha20-Poly1305 tag on every transport message.
const TAG_LEN: usize = 16;

/// A live chat after a completed NK handshake, on either side.
pub struct ChatSession {
    /// `None` once broken: the keys are gone, not just flagged.
    transport: Option<TransportState>,
    handshake_hash: [u8; 32],
}

impl std::fmt::Debug for ChatSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSession")
            .field("broken", &self.transport.is_none())
            .finish_non_exhaustive()
    }
}

impl ChatSession {
    pub(crate) fn new(transport: TransportState, handshake_hash: [u8; 32]) -> Self {
        Self {
            transport: Some(transport),
            handshake_hash,
        }
    }

    /// Pads and encrypts one record for the other side.
    ///
    /// An encoding error (e.g. text too long) leaves the session usable: nothing was sent and
    /// no nonce was spent.
    ///
    /// # Errors
    /// `Record` if the record cannot be encoded, `SessionBroken` after an earlier failure.
    pub fn seal(&mut self, record: &Record) -> Result<Vec<u8>, NoiseError> {
        let transport = self.transport.as_mut().ok_or(NoiseError::SessionBroken)?;
        let plaintext = Zeroizing::new(encode_padded(record)?);
        let mut out = vec![0_u8; plaintext.len().saturating_add(TAG_LEN)];
        match transport.write_message(&plaintext, &mut out) {
            Ok(n) if n == out.len() => Ok(out),
            Ok(_) | Err(_) => {
                // Only nonce exhaustion or a bug gets here; either way stop using the keys.
                self.transport = None;
                Err(NoiseError::Internal)
            }
        }
    }

    /// Decrypts and decodes one record from the other side.
    ///
    /// # Errors
    /// `MessageTooLarge`, `MalformedMessage`, `Decrypt` or `Record`; after any of them the
    /// session is broken and every later call returns `SessionBroken`.
    pub fn open(&mut self, ciphertext: &[u8]) -> Result<Record, NoiseError> {
        let transport = self.transport.as_mut().ok_or(NoiseError::SessionBroken)?;
        let result = Self::open_inner(transport, ciphertext);
        if result.is_err() {
            self.transport = None;
        }
        result
    }

    fn open_inner(transport: &mut TransportState, ciphertext: &[u8]) -> Result<Record, NoiseError> {
        if ciphertext.len() > MAX_NOISE_MESSAGE {
            return Err(NoiseError::MessageTooLarge);
        }
        let is_bucket = BUCKETS
            .iter()
            .any(|b| b.checked_add(TAG_LEN) == Some(ciphertext.len()));
        if !is_bucket {
            return Err(NoiseError::MalformedMessage);
        }
        let mut plaintext = Zeroizing::new(vec![0_u8; ciphertext.len()]);
        let n = transport
            .read_message(ciphertext, &mut plaintext)
            .map_err(|e| NoiseError::from_transport(&e))?;
        let body = plaintext.get(..n).ok_or(NoiseError::Internal)?;
        Ok(decode_padded(body)?)
    }

    /// The Noise handshake hash `h`, identical on both sides: a channel binding for anything
    /// that must be tied to this exact chat (e.g. a safety-number display).
    #[must_use]
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.handshake_hash
    }

    /// Whether an earlier failure has ended this session.
    #[must_use]
    pub fn is_broken(&self) -> bool {
        self.transport.is_none()
    }
}
