//! Control frames a client (seeker or peer supporter) sends to the relay.

use serde::{Deserialize, Serialize};

use crate::base64_bytes::Base64Bytes;
use crate::data_frame::ChatNumber;
use crate::decode_error::DecodeError;
use crate::features::{check_features, unknown_type};
use crate::limits::{MAX_CAPACITY, MAX_CONTROL_FRAME, MAX_TAG_LEN, MAX_TAGS};
use crate::optional::non_null;

/// Which side of the conversation a connection is. Fixed by `hello` for the connection's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An anonymous help-seeker: one chat at a time, no credential.
    Seeker,
    /// A peer supporter holding a program-signed certificate; many chats at once.
    Peer,
}

/// What a seeker would like in a peer. Every field is optional; the relay matches on
/// them but never learns anything the seeker did not choose to say. (The seeker's own
/// department is deliberately absent: that check happens in the client.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeekPreferences {
    /// A topic tag the program defines, e.g. `adverse-event`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub topic: Option<String>,
    /// A language tag, e.g. `en` or `fr`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub language: Option<String>,
    /// The kind of peer, e.g. `resident`, `staff`, `nursing`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub peer_role: Option<String>,
}

/// A peer supporter's availability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// Receives offers, up to its capacity.
    Available,
    /// Receives no new offers; chats already open go on.
    Away,
}

/// Every frame a client may send. Internally tagged by `type`; unknown fields are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame on every connection: protocol version, role and program.
    Hello {
        /// Must equal [`crate::PROTOCOL_VERSION`]; any other non-negative integer is answered
        /// with `unsupported_version` (so a future client learns the right thing).
        v: u64,
        /// Seeker or peer, for the connection's whole life.
        role: Role,
        /// The program id, e.g. `resident-peer-support`.
        program: String,
        /// Connection features the client implements (`features.rs`). Present, even empty,
        /// it also declares that the client follows the growth rules; absent, the
        /// connection speaks exactly version 1.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        features: Option<Vec<String>>,
        /// End-to-end chat features the client implements, passed to its chat partners
        /// (with the `chat-features` feature) and bound into each chat's Noise prologue.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "non_null"
        )]
        chat_features: Option<Vec<String>>,
    },
    /// Peer only: the certificate chain and the current revocation list.
    Present {
        /// Issuer certificate, signed by the program's root key.
        issuer_certificate: Base64Bytes,
        /// Supporter certificate, signed by the issuer.
        supporter_certificate: Base64Bytes,
        /// Revocation list, signed by the program's root key.
        revocation_list: Base64Bytes,
    },
    /// Peer only: the answer to the relay's possession `challenge`.
    Prove {
        /// Noise NK msg2 with the challenge echoed (see `proto/crypto.md`).
        answer: Base64Bytes,
    },
    /// Peer only: go available or away, with capacity, topics and languages.
    SetAvailability {
        /// Available or away.
        status: Availability,
        /// Chats at once, 1..=[`MAX_CAPACITY`].
        capacity: u16,
        /// Topics offered (empty: any topic).
        #[serde(default)]
        topics: Vec<String>,
        /// Languages offered (empty: the certificate's languages).
        #[serde(default)]
        languages: Vec<String>,
        /// Accept every offer without asking.
        #[serde(default)]
        auto_accept: bool,
    },
    /// Seeker only: ask for a peer.
    Seek {
        /// Optional preferences.
        #[serde(default)]
        preferences: SeekPreferences,
        /// Feature `urgency`: the seeker said "I need to talk soon" (self-declared). The
        /// matcher serves it as if it had sought [`crate::limits::URGENT_HEAD_START`]
        /// earlier; its offers say so. Absent (false) otherwise.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        urgent: bool,
    },
    /// Seeker only: leave the queue.
    Cancel {},
    /// Peer only: take an offered seeker.
    Accept {
        /// The offer number from `offer`.
        offer: u32,
    },
    /// Peer only: pass on an offered seeker (it goes to the next peer).
    Decline {
        /// The offer number from `offer`.
        offer: u32,
    },
    /// Either side: end a chat.
    End {
        /// The chat number on this connection.
        chat: ChatNumber,
    },
    /// Seeker only, feature `pass`: refuse the peer of a chat before its first data frame
    /// (msg1) and go back to the queue at the place held before the match; the relay never
    /// offers this connection to that peer again and is not told why.
    Pass {
        /// The chat number on this connection.
        chat: ChatNumber,
    },
    /// Peer only: end a chat and never be matched with this seeker's connection again.
    Block {
        /// The chat number on this connection.
        chat: ChatNumber,
    },
    /// Feature `resume`: the first frame of a new WebSocket, instead of `hello`, taking over
    /// a connection whose socket was lost within the grace window (`proto/spec.md`, "Resume").
    Resume {
        /// The one-time secret from `welcome.resume` or the last `resumed` (32 bytes).
        secret: Base64Bytes,
        /// How many counted messages the client received from the relay on the connection.
        received: u64,
    },
    /// Feature `resume`: how many counted messages the client has received from the relay;
    /// the relay forgets the ones it kept for a resume up to there. Not counted itself.
    Ack {
        /// The count of counted messages received so far on the connection.
        received: u64,
    },
}

impl ClientFrame {
    /// Parses and validates one text frame. Never panics; every failure is typed.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_CONTROL_FRAME {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_CONTROL_FRAME,
            });
        }
        let frame: Self = match serde_json::from_slice(bytes) {
            Ok(frame) => frame,
            Err(error) => {
                return Err(match unknown_type(bytes, Self::TYPES) {
                    Some(critical) => DecodeError::UnknownType { critical },
                    None => DecodeError::from_json_error(&error),
                });
            }
        };
        frame.validate()?;
        Ok(frame)
    }

    /// A `seek` with these preferences, not urgent (what every version-1 client sends).
    pub fn seek(preferences: SeekPreferences) -> Self {
        Self::Seek {
            preferences,
            urgent: false,
        }
    }

    /// A plain version-1 `hello`: no features, exactly what a client from before features
    /// sends.
    pub fn hello_v1(role: Role, program: &str) -> Self {
        Self::Hello {
            v: u64::from(crate::PROTOCOL_VERSION),
            role,
            program: program.to_owned(),
            features: None,
            chat_features: None,
        }
    }

    /// Every `type` a client may send in this version of the protocol.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "present",
        "prove",
        "set_availability",
        "seek",
        "cancel",
        "accept",
        "decline",
        "end",
        "block",
        "pass",
        "resume",
        "ack",
    ];

    /// Serialises to JSON.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail: no maps with non-string keys.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The frame's `type` string, for errors and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Present { .. } => "present",
            Self::Prove { .. } => "prove",
            Self::SetAvailability { .. } => "set_availability",
            Self::Seek { .. } => "seek",
            Self::Cancel {} => "cancel",
            Self::Accept { .. } => "accept",
            Self::Decline { .. } => "decline",
            Self::End { .. } => "end",
            Self::Block { .. } => "block",
            Self::Pass { .. } => "pass",
            Self::Resume { .. } => "resume",
            Self::Ack { .. } => "ack",
        }
    }

    /// The role allowed to send this frame, or `None` if both may.
    pub fn sender_role(&self) -> Option<Role> {
        match self {
            Self::Hello { .. } | Self::End { .. } | Self::Resume { .. } | Self::Ack { .. } => None,
            Self::Seek { .. } | Self::Cancel {} | Self::Pass { .. } => Some(Role::Seeker),
            Self::Present { .. }
            | Self::Prove { .. }
            | Self::SetAvailability { .. }
            | Self::Accept { .. }
            | Self::Decline { .. }
            | Self::Block { .. } => Some(Role::Peer),
        }
    }

    /// Checks the limits serde cannot express.
    fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Self::Hello {
                program,
                features,
                chat_features,
                ..
            } => {
                check_tag("program", program)?;
                check_features("features", features.as_deref().unwrap_or_default())?;
                check_features(
                    "chat_features",
                    chat_features.as_deref().unwrap_or_default(),
                )
            }
            Self::SetAvailability {
                capacity,
                topics,
                languages,
                ..
            } => {
                if !(1..=MAX_CAPACITY).contains(capacity) {
                    return Err(DecodeError::Invalid {
                        field: "capacity",
                        reason: "capacity is 1 to 16 chats",
                    });
                }
                check_tags("topics", topics)?;
                check_tags("languages", languages)
            }
            Self::Seek { preferences, .. } => {
                let SeekPreferences {
                    topic,
                    language,
                    peer_role,
                } = preferences;
                for (field, value) in [
                    ("topic", topic),
                    ("language", language),
                    ("peer_role", peer_role),
                ] {
                    if let Some(value) = value {
                        check_tag(field, value)?;
                    }
                }
                Ok(())
            }
            Self::Accept { offer } | Self::Decline { offer } => {
                if *offer == 0 {
                    return Err(DecodeError::Invalid {
                        field: "offer",
                        reason: "offer numbers start at 1",
                    });
                }
                Ok(())
            }
            Self::End { chat } | Self::Block { chat } | Self::Pass { chat } => {
                if chat.0 == 0 {
                    return Err(DecodeError::Invalid {
                        field: "chat",
                        reason: "chat numbers start at 1",
                    });
                }
                Ok(())
            }
            Self::Resume { secret, .. } => {
                if secret.as_bytes().len() != crate::limits::RESUME_SECRET_LEN {
                    return Err(DecodeError::Invalid {
                        field: "secret",
                        reason: "a resume secret is 32 bytes",
                    });
                }
                Ok(())
            }
            Self::Present { .. } | Self::Prove { .. } | Self::Cancel {} | Self::Ack { .. } => {
                Ok(())
            }
        }
    }
}

/// Whether `tag` is a protocol tag: 1 to [`MAX_TAG_LEN`] bytes of `a-z`, `0-9` and `-`.
/// Topics, languages, roles and program ids are tags, here and in certificates.
pub fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A tag field, or the typed error naming it.
pub(crate) fn check_tag(field: &'static str, tag: &str) -> Result<(), DecodeError> {
    if is_tag(tag) {
        Ok(())
    } else {
        Err(DecodeError::Invalid {
            field,
            reason: "tags are 1-64 characters of a-z, 0-9 and -",
        })
    }
}

fn check_tags(field: &'static str, tags: &[String]) -> Result<(), DecodeError> {
    if tags.len() > MAX_TAGS {
        return Err(DecodeError::Invalid {
            field,
            reason: "too many tags",
        });
    }
    tags.iter().try_for_each(|tag| check_tag(field, tag))
}
