//! An in-process demo peer for the relay's `--dev` mode, so someone trying Confidant alone
//! can see a whole chat.
//!
//! It is **not a real person** and says so: its certificate's display name must be
//! [`DEMO_DISPLAY_NAME`] (it refuses to run otherwise), its greeting says it, and every
//! canned reply repeats it together with where professional help is. It auto-accepts up to
//! [`DEMO_CAPACITY`] chats and ends a chat only when the seeker does (or on shutdown).

use confidant_crypto::SignedBody as _;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use confidant_crypto::{
    IssuerCertificate, IssuingKey, MlKemSecret, RevocationList, RootKey, SupporterCertificate,
    SupporterSecret,
};
use confidant_proto::{Availability, ChatNumber, Resource};

use crate::ResourceCard;
use crate::error::ClientError;
use crate::peer::{AvailabilitySettings, Peer, PeerHandle, PeerOptions};
use crate::peer_credential::PeerCredential;
use crate::peer_event::PeerEvent;

/// The display name a demo peer's certificate must carry.
pub const DEMO_DISPLAY_NAME: &str = "Demo peer (not a real person)";

/// Chats the demo peer holds at once.
pub const DEMO_CAPACITY: u16 = 8;

/// How long the demo "types" before answering, so the typing indicator can be seen.
const REPLY_DELAY: Duration = Duration::from_millis(600);

const REPLIES: [&str; 4] = [
    "Thank you for telling me. I'm only a demo peer, not a real person — in a real chat, a trained colleague would answer you here.",
    "That sounds really hard. This is a demonstration, so my answers are canned; if you need support now, please reach out to the resources below.",
    "You don't have to carry this alone. Peer support never replaces professional help — the program's counselling contact is there for you.",
    "I'm still just a demo. When the relay runs for real, certified peers from your program answer here, end to end encrypted.",
];

/// Runs a demo peer until `shutdown` completes or the connection ends.
///
/// `credential` must be a supporter certificate whose display name is
/// [`DEMO_DISPLAY_NAME`]; [`demo_credential`] makes one.
pub async fn run_demo_peer(
    url: &str,
    program: &str,
    credential: PeerCredential,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ClientError> {
    let certificate = credential.certificate()?;
    if certificate.display_name != DEMO_DISPLAY_NAME {
        return Err(ClientError::Credential(format!(
            "a demo peer's certificate must be named \"{DEMO_DISPLAY_NAME}\""
        )));
    }
    let mut peer = Peer::connect(url, program, credential, PeerOptions::default()).await?;
    let resources = peer.program().resources.clone();
    peer.set_availability(AvailabilitySettings {
        status: Availability::Available,
        capacity: DEMO_CAPACITY,
        topics: Vec::new(),
        languages: Vec::new(),
        auto_accept: true,
    })
    .await?;
    let handle = peer.handle();
    let mut replies_sent: HashMap<ChatNumber, usize> = HashMap::new();
    tokio::pin!(shutdown);
    loop {
        let event = tokio::select! {
            () = &mut shutdown => break,
            event = peer.next_event() => event,
        };
        let Some(event) = event else { break };
        match event {
            PeerEvent::Offer { offer, .. } => {
                // Auto-accept is on; an explicit accept covers a relay that still asks.
                let _ = handle.accept(offer).await;
            }
            PeerEvent::ChatReady { chat } => {
                replies_sent.insert(chat, 0);
                let _ = handle.send_text(chat, greeting(&resources)).await;
            }
            PeerEvent::Message { chat, .. } => {
                let Some(count) = replies_sent.get_mut(&chat) else {
                    continue;
                };
                let _ = handle.mark_read(chat, u64::MAX).await;
                let reply = REPLIES
                    .get(*count % REPLIES.len())
                    .copied()
                    .unwrap_or_default();
                let card = (*count == 0)
                    .then(|| resources.first().map(card_of))
                    .flatten();
                *count += 1;
                tokio::spawn(reply_later(handle.clone(), chat, reply, card));
            }
            PeerEvent::Ended { chat, .. } => {
                replies_sent.remove(&chat);
            }
            PeerEvent::Disconnected(error) => {
                return match error {
                    ClientError::Shutdown => Ok(()),
                    other => Err(other),
                };
            }
            _ => {}
        }
    }
    // Shutting down: end open chats cleanly so seekers see an end record, not truncation.
    for chat in replies_sent.keys() {
        let _ = handle.end(*chat).await;
    }
    peer.close();
    Ok(())
}

async fn reply_later(
    handle: PeerHandle,
    chat: ChatNumber,
    reply: &'static str,
    card: Option<ResourceCard>,
) {
    let _ = handle.typing(chat, true).await;
    tokio::time::sleep(REPLY_DELAY).await;
    let _ = handle.typing(chat, false).await;
    if handle.send_text(chat, reply).await.is_ok()
        && let Some(card) = card
    {
        let _ = handle.send_resource(chat, card).await;
    }
}

fn greeting(resources: &[Resource]) -> String {
    let mut text = String::from(
        "Hello. I'm a demo peer — not a real person. This relay runs in demo mode so you can see how a chat works.",
    );
    if let Some(first) = resources.first() {
        text.push_str(" If you need support now, please contact: ");
        text.push_str(&first.title);
        if let Some(phone) = &first.phone {
            text.push_str(", ");
            text.push_str(phone);
        }
        if let Some(url) = &first.url {
            text.push_str(", ");
            text.push_str(url);
        }
        text.push('.');
    } else {
        text.push_str(
            " If you need support now, please contact your program's counselling service.",
        );
    }
    text
}

fn card_of(resource: &Resource) -> ResourceCard {
    ResourceCard {
        title: resource.title.clone(),
        url: resource.url.clone(),
        phone: resource.phone.clone(),
    }
}

/// Makes a complete in-memory demo credential under `root` for `program`, valid from
/// `now_unix` for `days`: an issuing key and certificate, a supporter certificate named
/// [`DEMO_DISPLAY_NAME`], a fresh X25519 secret, and an empty revocation list (sequence 1).
///
/// For `--dev` only: a real program's root key stays offline.
pub fn demo_credential(
    root: &RootKey,
    program: &str,
    now_unix: u64,
    days: u64,
) -> Result<PeerCredential, ClientError> {
    let not_after = now_unix.saturating_add(days.saturating_mul(86_400));
    let failed = |what: &str| ClientError::Credential(format!("demo credential: {what}"));
    let issuing = IssuingKey::generate().map_err(|_| failed("no randomness"))?;
    let issuer_certificate = IssuerCertificate::new(program, issuing.public(), now_unix, not_after)
        .sign(root)
        .map_err(|_| failed("issuer certificate"))?;
    let secret = SupporterSecret::generate().map_err(|_| failed("no randomness"))?;
    // The demo peer holds an ML-KEM-768 key too, so seekers run the hybrid handshake with it.
    let mlkem = MlKemSecret::generate().map_err(|_| failed("no randomness"))?;
    let supporter_certificate = SupporterCertificate {
        program: program.to_owned(),
        issuer_key_id: issuing.key_id(),
        serial: 1,
        x25519_public: secret.public(),
        display_name: DEMO_DISPLAY_NAME.to_owned(),
        role: "demo".to_owned(),
        department: "Demo".to_owned(),
        topics: Vec::new(),
        languages: vec!["en".to_owned()],
        not_before: now_unix,
        not_after,
        mlkem768_public: Some(mlkem.public()),
    }
    .sign(&issuing)
    .map_err(|_| failed("supporter certificate"))?;
    let revocation_list = RevocationList {
        program: program.to_owned(),
        sequence: 1,
        issued_at: now_unix,
        next_update: not_after,
        revoked_serials: Vec::new(),
        revoked_issuers: Vec::new(),
    }
    .sign(root)
    .map_err(|_| failed("revocation list"))?;
    PeerCredential::with_mlkem(
        issuer_certificate,
        supporter_certificate,
        revocation_list,
        secret,
        Some(mlkem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_credential_verifies_and_is_labelled() {
        let root = RootKey::from_bytes(&[3; 32]);
        let credential = demo_credential(&root, "demo-program", 1_000, 30).unwrap();
        let verified = confidant_crypto::verify_chain(
            &root.public(),
            "demo-program",
            &credential.issuer_certificate,
            &credential.supporter_certificate,
            &credential.revocation_list,
            2_000,
            0,
        )
        .unwrap();
        assert_eq!(verified.certificate.display_name, DEMO_DISPLAY_NAME);
        assert!(
            verified.certificate.mlkem768_public.is_some(),
            "the demo peer offers the hybrid handshake"
        );
        assert!(DEMO_DISPLAY_NAME.contains("not a real person"));
    }

    #[test]
    fn every_reply_says_it_is_a_demo() {
        assert!(greeting(&[]).contains("not a real person"));
        for reply in REPLIES {
            assert!(
                reply.contains("demo")
                    || reply.contains("demonstration")
                    || reply.contains("professional help"),
                "{reply}"
            );
        }
    }
}
