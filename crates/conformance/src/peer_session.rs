//! Logging a peer in with raw frames: `hello`, `present`, the possession proof.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use confidant_client::PeerCredential;
use serde_json::{Value, json};

use crate::cases::hello_with;
use crate::wire::Wire;

/// A supporter credential and its secret key, to log in as a peer.
pub struct PeerKeys {
    credential: PeerCredential,
}

impl PeerKeys {
    /// Wraps a loaded credential.
    #[must_use]
    pub fn new(credential: PeerCredential) -> Self {
        Self { credential }
    }

    /// The `present` frame.
    pub(crate) fn present(&self) -> Value {
        json!({
            "type": "present",
            "issuer_certificate": STANDARD.encode(&self.credential.issuer_certificate),
            "supporter_certificate": STANDARD.encode(&self.credential.supporter_certificate),
            "revocation_list": STANDARD.encode(&self.credential.revocation_list),
        })
    }

    /// The answer to a possession challenge (base64 in, base64 out).
    pub(crate) fn answer(&self, challenge: &str) -> Result<String, String> {
        let challenge = STANDARD
            .decode(challenge)
            .map_err(|_| "challenge is not base64".to_owned())?;
        let answer = confidant_crypto::answer_possession_challenge(
            &self.credential.secret,
            &self.credential.supporter_certificate,
            &challenge,
        )
        .map_err(|e| format!("cannot answer the challenge: {e:?}"))?;
        Ok(STANDARD.encode(answer))
    }

    /// Connects and logs in up to `verified`, with `extra` members in `hello` (features).
    pub(crate) async fn log_in(
        &self,
        url: &str,
        program: &str,
        extra: &Value,
    ) -> Result<Wire, String> {
        let mut wire = Wire::connect(url).await?;
        wire.frame(&hello_with("peer", program, extra)).await?;
        wire.expect("welcome").await?;
        wire.frame(&self.present()).await?;
        let challenge = wire.expect("challenge").await?;
        let challenge = challenge
            .get("challenge")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        wire.frame(&json!({"type": "prove", "answer": self.answer(&challenge)?}))
            .await?;
        wire.expect("verified").await?;
        Ok(wire)
    }
}
