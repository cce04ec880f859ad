//! The SDK's public types, mirrored as UniFFI records and enums.
//!
//! Mirrors rather than the SDK's own types because UniFFI needs its derives on the type and
//! the SDK must not depend on UniFFI (the CLI, the relay's demo peer and the tests use it
//! too). Each conversion is an exhaustive `match` where the SDK's enum is exhaustive, so a
//! new variant there fails to compile here instead of reaching an app unmapped.

use std::collections::HashMap;

use confidant_client as sdk;

use crate::error::ConfidantError;

/// Which certificate authorities a `wss://` relay's certificate may chain to (the SDK's
/// `TlsTrust`). TLS protects metadata and the relay's identity; the chat's privacy rests on
/// the end-to-end layer and the pinned program key whatever TLS says.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RelayTrust {
    /// The public web PKI (Mozilla's roots, compiled into the library: nothing depends on
    /// the phone's store).
    PublicRoots,
    /// Only the CA certificates in `pem` (one or more `CERTIFICATE` blocks), e.g. a
    /// hospital's private CA.
    PrivateCa {
        /// PEM text.
        pem: String,
    },
}

impl RelayTrust {
    pub(crate) fn to_sdk(&self) -> Result<sdk::TlsTrust, ConfidantError> {
        match self {
            Self::PublicRoots => Ok(sdk::TlsTrust::public_roots()),
            Self::PrivateCa { pem } => Ok(sdk::TlsTrust::from_pem(pem.as_bytes())?),
        }
    }
}

/// Where to turn: a web address, a number to dial or an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Resource {
    /// What it is.
    pub title: String,
    /// A web address.
    pub url: Option<String>,
    /// A telephone number as it should be dialled.
    pub phone: Option<String>,
    /// An e-mail address.
    pub email: Option<String>,
}

impl From<sdk::Resource> for Resource {
    fn from(r: sdk::Resource) -> Self {
        Self {
            title: r.title,
            url: r.url,
            phone: r.phone,
            email: r.email,
        }
    }
}

/// A program's public description, as the relay serves it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Program {
    /// Stable id, e.g. `resident-peer-support`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// The root key the *relay* claims (64 hex digits). For comparison only: an app pins
    /// the key it ships with and passes that to `connect_seeker`.
    pub root_key_claimed_by_relay: String,
    /// Topic tags offered.
    pub topics: Vec<String>,
    /// Languages offered.
    pub languages: Vec<String>,
    /// Kinds of peer.
    pub peer_roles: Vec<String>,
    /// Where to turn when no peer is available.
    pub resources: Vec<Resource>,
    /// How long a seeker waits at most before `NoPeer`, in seconds.
    pub wait_limit_secs: u32,
    /// Emergency help, to show on every screen (empty: "call your local emergency number").
    pub emergency: Vec<Resource>,
    /// The limits of confidentiality, by language tag.
    pub confidentiality: HashMap<String, String>,
    /// Departments the program's certificates name (to pick one to avoid).
    pub departments: Vec<String>,
}

impl From<sdk::ProgramInfo> for Program {
    fn from(p: sdk::ProgramInfo) -> Self {
        Self {
            id: p.id,
            name: p.name,
            root_key_claimed_by_relay: p.root_key,
            topics: p.topics,
            languages: p.languages,
            peer_roles: p.peer_roles,
            resources: p.resources.into_iter().map(Resource::from).collect(),
            wait_limit_secs: p.wait_limit_secs,
            emergency: p
                .emergency
                .unwrap_or_default()
                .into_iter()
                .map(Resource::from)
                .collect(),
            confidentiality: p.confidentiality.unwrap_or_default().into_iter().collect(),
            departments: p.departments.unwrap_or_default(),
        }
    }
}

/// What a seeker asks for; every member is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SeekPreferences {
    /// A topic tag of the program.
    #[uniffi(default = None)]
    pub topic: Option<String>,
    /// A language tag.
    #[uniffi(default = None)]
    pub language: Option<String>,
    /// A kind of peer.
    #[uniffi(default = None)]
    pub peer_role: Option<String>,
}

impl From<SeekPreferences> for sdk::SeekPreferences {
    fn from(p: SeekPreferences) -> Self {
        Self {
            topic: p.topic,
            language: p.language,
            peer_role: p.peer_role,
        }
    }
}

/// The matched peer as the program signed them, verified by the SDK against the pinned
/// root key. Nothing here comes from the relay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PeerCard {
    /// Display name.
    pub display_name: String,
    /// Kind of peer, e.g. `resident`.
    pub role: String,
    /// Department.
    pub department: String,
    /// Topics the peer is trained for.
    pub topics: Vec<String>,
    /// Languages the peer speaks.
    pub languages: Vec<String>,
}

impl From<sdk::VerifiedPeer> for PeerCard {
    fn from(p: sdk::VerifiedPeer) -> Self {
        Self {
            display_name: p.display_name,
            role: p.role,
            department: p.department,
            topics: p.topics,
            languages: p.languages,
        }
    }
}

/// A resource card shared inside a chat (end-to-end encrypted).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ResourceCard {
    /// What it is; never empty.
    pub title: String,
    /// Where to read more.
    pub url: Option<String>,
    /// Who to call.
    pub phone: Option<String>,
}

impl From<sdk::ResourceCard> for ResourceCard {
    fn from(c: sdk::ResourceCard) -> Self {
        Self {
            title: c.title,
            url: c.url,
            phone: c.phone,
        }
    }
}

impl From<ResourceCard> for sdk::ResourceCard {
    fn from(c: ResourceCard) -> Self {
        Self {
            title: c.title,
            url: c.url,
            phone: c.phone,
        }
    }
}

/// Why nobody can take a waiting seeker right now. Not an ending: the seeker stays queued
/// and is offered as soon as a peer can take it (relays with the `queue-none` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum QueueNone {
    /// No peer of the program is online and available.
    NoneOnline,
    /// Peers are available, but none fits the seeker's preferences or may be offered it.
    NoneAvailable,
}

impl From<sdk::QueueNone> for QueueNone {
    fn from(none: sdk::QueueNone) -> Self {
        match none {
            sdk::QueueNone::NoneOnline => Self::NoneOnline,
            sdk::QueueNone::NoneAvailable => Self::NoneAvailable,
        }
    }
}

/// Why no peer could be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum NoPeerReason {
    /// No peer of the program is online and available.
    NoneOnline,
    /// The seeker waited the program's limit.
    WaitLimit,
    /// The queue is full.
    QueueFull,
}

impl From<sdk::NoPeerReason> for NoPeerReason {
    fn from(r: sdk::NoPeerReason) -> Self {
        match r {
            sdk::NoPeerReason::NoneOnline => Self::NoneOnline,
            sdk::NoPeerReason::WaitLimit => Self::WaitLimit,
            sdk::NoPeerReason::QueueFull => Self::QueueFull,
        }
    }
}

/// Why the relay says a chat ended (its claim; see [`EndReason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChatEndReason {
    /// This side sent `end`.
    Ended,
    /// The partner sent `end`.
    PartnerEnded,
    /// The peer blocked the seeker.
    Blocked,
    /// The partner's connection closed.
    PartnerLeft,
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// Nothing was sent for the idle limit.
    IdleTimeout,
    /// One side did not read fast enough.
    SlowReader,
    /// The relay is shutting down.
    Shutdown,
    /// The peer's credential was revoked during the chat.
    Revoked,
}

impl From<sdk::ChatEndReason> for ChatEndReason {
    fn from(r: sdk::ChatEndReason) -> Self {
        use sdk::ChatEndReason as R;
        match r {
            R::Ended => Self::Ended,
            R::PartnerEnded => Self::PartnerEnded,
            R::Blocked => Self::Blocked,
            R::PartnerLeft => Self::PartnerLeft,
            R::HandshakeTimeout => Self::HandshakeTimeout,
            R::IdleTimeout => Self::IdleTimeout,
            R::SlowReader => Self::SlowReader,
            R::Shutdown => Self::Shutdown,
            R::Revoked => Self::Revoked,
        }
    }
}

/// How a chat ended, as the SDK can vouch for it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum EndReason {
    /// This side ended it.
    Local,
    /// The partner sent an encrypted `End` record: a clean, complete ending.
    PartnerEnded,
    /// The peer blocked the seeker (encrypted `Block` record).
    PartnerBlocked,
    /// The relay ended the chat and no `End` record arrived: say the chat ended without
    /// the partner closing it.
    WithoutEndRecord {
        /// What the relay claimed.
        relay_reason: ChatEndReason,
    },
    /// The SDK ended the chat because verification or decryption failed; nothing from the
    /// partner after the failure was shown.
    Failed {
        /// What failed.
        error: ConfidantError,
    },
}

impl From<sdk::EndReason> for EndReason {
    fn from(r: sdk::EndReason) -> Self {
        match r {
            sdk::EndReason::Local => Self::Local,
            sdk::EndReason::PartnerEnded => Self::PartnerEnded,
            sdk::EndReason::PartnerBlocked => Self::PartnerBlocked,
            sdk::EndReason::WithoutEndRecord(reason) => Self::WithoutEndRecord {
                relay_reason: reason.into(),
            },
            sdk::EndReason::Failed(error) => Self::Failed {
                error: error.into(),
            },
        }
    }
}

/// A peer supporter's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Availability {
    /// Receives offers up to its capacity.
    Available,
    /// Receives no new offers; open chats go on.
    Away,
}

impl From<sdk::Availability> for Availability {
    fn from(a: sdk::Availability) -> Self {
        match a {
            sdk::Availability::Available => Self::Available,
            sdk::Availability::Away => Self::Away,
        }
    }
}

impl From<Availability> for sdk::Availability {
    fn from(a: Availability) -> Self {
        match a {
            Availability::Available => Self::Available,
            Availability::Away => Self::Away,
        }
    }
}

/// The relay's error catalogue (`proto/spec.md`, "Errors"); the snake_case wire code is
/// the variant's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
#[allow(missing_docs)] // each variant is documented in the catalogue (confidant_proto::ErrorCode)
pub enum RelayErrorCode {
    UnsupportedVersion,
    MalformedFrame,
    InvalidField,
    FrameTooLarge,
    UnexpectedFrame,
    WrongRole,
    UnknownProgram,
    CredentialRejected,
    PossessionFailed,
    HelloTimeout,
    UnknownChat,
    UnknownOffer,
    AlreadySeeking,
    NotAvailable,
    RateLimited,
    TooManyConnections,
    SlowConsumer,
    CredentialRevoked,
    ShuttingDown,
    InternalError,
    ResumeFailed,
    /// The relay is under load and asked for a proof of work (the SDK pays it itself; an
    /// app sees this only if the relay refused two proofs in a row).
    ProofRequired,
    /// The proof of work was refused (wrong, expired or reused).
    ProofRejected,
}

impl From<sdk::ErrorCode> for RelayErrorCode {
    fn from(c: sdk::ErrorCode) -> Self {
        use sdk::ErrorCode as C;
        match c {
            C::UnsupportedVersion => Self::UnsupportedVersion,
            C::MalformedFrame => Self::MalformedFrame,
            C::InvalidField => Self::InvalidField,
            C::FrameTooLarge => Self::FrameTooLarge,
            C::UnexpectedFrame => Self::UnexpectedFrame,
            C::WrongRole => Self::WrongRole,
            C::UnknownProgram => Self::UnknownProgram,
            C::CredentialRejected => Self::CredentialRejected,
            C::PossessionFailed => Self::PossessionFailed,
            C::HelloTimeout => Self::HelloTimeout,
            C::UnknownChat => Self::UnknownChat,
            C::UnknownOffer => Self::UnknownOffer,
            C::AlreadySeeking => Self::AlreadySeeking,
            C::NotAvailable => Self::NotAvailable,
            C::RateLimited => Self::RateLimited,
            C::TooManyConnections => Self::TooManyConnections,
            C::SlowConsumer => Self::SlowConsumer,
            C::CredentialRevoked => Self::CredentialRevoked,
            C::ShuttingDown => Self::ShuttingDown,
            C::InternalError => Self::InternalError,
            C::ResumeFailed => Self::ResumeFailed,
            C::ProofRequired => Self::ProofRequired,
            C::ProofRejected => Self::ProofRejected,
        }
    }
}

/// Why a peer's credential was refused by the seeker's SDK (the shared credential codes of
/// `proto/crypto.md`; the variant's snake_case name is the code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CredentialFailure {
    /// A certificate or the list does not decode.
    Malformed,
    /// A signed object of the wrong kind.
    WrongDomain,
    /// A signature does not verify (e.g. the chain is not the pinned program key's).
    BadSignature,
    /// A certificate is not valid yet.
    NotYetValid,
    /// A certificate has expired.
    Expired,
    /// Issued for another program.
    WrongProgram,
    /// The supporter certificate names another issuer.
    IssuerMismatch,
    /// A weak (e.g. all-zero) key.
    WeakKey,
    /// The supporter is revoked.
    Revoked,
    /// The revocation list is too old.
    RevocationStale,
    /// The revocation list is older than one already seen.
    RevocationRolledBack,
    /// A code this version of the bindings does not know yet.
    Other,
}

impl From<&sdk::CredentialError> for CredentialFailure {
    fn from(e: &sdk::CredentialError) -> Self {
        // Matched on the stable code: the SDK's enum is non-exhaustive.
        match e.code() {
            "malformed" => Self::Malformed,
            "wrong_domain" => Self::WrongDomain,
            "bad_signature" => Self::BadSignature,
            "not_yet_valid" => Self::NotYetValid,
            "expired" => Self::Expired,
            "wrong_program" => Self::WrongProgram,
            "issuer_mismatch" => Self::IssuerMismatch,
            "weak_key" => Self::WeakKey,
            "revoked" => Self::Revoked,
            "revocation_stale" => Self::RevocationStale,
            "revocation_rolled_back" => Self::RevocationRolledBack,
            _ => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `UnknownProgram` → `unknown_program`: the bindings' variant names are the codes.
    fn snake(name: &str) -> String {
        let mut out = String::new();
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    #[test]
    fn relay_error_codes_are_the_catalogue() {
        for code in sdk::ErrorCode::ALL {
            let mirrored = RelayErrorCode::from(code);
            assert_eq!(snake(&format!("{mirrored:?}")), code.as_str());
        }
    }

    #[test]
    fn credential_failures_keep_their_codes() {
        use sdk::CredentialError as E;
        for error in [
            E::WrongDomain,
            E::BadSignature,
            E::NotYetValid,
            E::Expired,
            E::WrongProgram,
            E::IssuerMismatch,
            E::WeakKey,
            E::Revoked,
            E::RevocationStale,
            E::RevocationRolledBack,
        ] {
            let mirrored = CredentialFailure::from(&error);
            assert_ne!(mirrored, CredentialFailure::Other);
            assert_eq!(snake(&format!("{mirrored:?}")), error.code());
        }
    }

    #[test]
    fn a_rejected_peer_keeps_its_credential_code() {
        let error = ConfidantError::from(sdk::ClientError::PeerRejected(
            sdk::CredentialError::BadSignature,
        ));
        assert_eq!(
            error,
            ConfidantError::PeerRejected {
                reason: CredentialFailure::BadSignature
            }
        );
        let relay = ConfidantError::from(sdk::ClientError::Relay {
            code: sdk::ErrorCode::RateLimited,
            message: "slow down".to_owned(),
        });
        assert!(matches!(
            relay,
            ConfidantError::Relay {
                code: RelayErrorCode::RateLimited,
                ..
            }
        ));
    }
}
