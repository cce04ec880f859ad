//! Records inside the encryption, padded to a few fixed sizes.
//!
//! The relay sees only ciphertext lengths, so every plaintext is exactly one bucket long:
//! it learns "short, medium, long, very long" and nothing finer. The encoding is strict in
//! both directions (minimal bucket, zero padding, typed bodies) so that two implementations
//! can never disagree about what a record means.

use serde::{Deserialize, Serialize};

/// Plaintext sizes of every transport message, smallest first.
pub const BUCKETS: [usize; 4] = [256, 1024, 4096, 16384];

/// Bytes before the body: one type byte and a big-endian u16 body length.
pub const RECORD_HEADER_LEN: usize = 3;

/// Longest text body: the largest bucket minus the header.
pub const MAX_TEXT_BYTES: usize = 16384 - RECORD_HEADER_LEN;

/// Record type bytes, as on the wire.
mod kind {
    pub const TEXT: u8 = 0x01;
    pub const TYPING: u8 = 0x02;
    pub const READ: u8 = 0x03;
    pub const END: u8 = 0x04;
    pub const BLOCK: u8 = 0x05;
    pub const RESOURCE: u8 = 0x06;
    /// Types from here up to `LAST_SKIPPABLE` belong to later revisions; a receiver that does
    /// not know one skips it (`proto/crypto.md` §4, growth).
    pub const FIRST_SKIPPABLE: u8 = 0x07;
    pub const LAST_SKIPPABLE: u8 = 0x7f;
}

/// A pointer to outside help a supporter can hand a seeker (a hotline, a page).
///
/// JSON so it can grow new optional fields in a later version; unknown fields are refused
/// today so no two clients read the same card differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceCard {
    /// What the resource is; never empty.
    pub title: String,
    /// Where to read more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Who to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// One message of the chat, as both sides see it after decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A chat message (UTF-8, non-empty).
    Text(String),
    /// The sender started (`true`) or stopped (`false`) typing.
    Typing(bool),
    /// How many text records from the other side the sender has read so far.
    Read(u64),
    /// The sender ends the chat; without it a cut-off stream is detectable as truncation.
    End,
    /// The sender blocks the other side (ends the chat and asks not to be matched again).
    Block,
    /// A resource card.
    Resource(ResourceCard),
    /// A record of a later revision this receiver does not know, of a type `0x07..=0x7f`
    /// (non-critical): the receiver skips it and the chat goes on. Types `0x80..=0xff` are
    /// critical and fail as `record_unknown_type`. A sender only sends a type of a chat
    /// feature both sides agreed on (`proto/crypto.md` §2), so a version-1 receiver never
    /// meets one.
    Unknown {
        /// The type byte.
        kind: u8,
        /// The body, unread.
        body: Vec<u8>,
    },
}

/// Why a record could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The padded plaintext's length is not one of `BUCKETS`.
    #[error("padded record length is not a bucket size")]
    InvalidLength,
    /// The type byte is 0x00, or a critical type (0x80..=0xff) this receiver does not know.
    #[error("unknown record type")]
    UnknownType,
    /// The declared body length runs past the end of the bucket.
    #[error("record body length exceeds the buffer")]
    BodyOverrun,
    /// A smaller bucket would have held the record.
    #[error("record is not in the smallest bucket that fits")]
    NonMinimalBucket,
    /// A padding byte is not zero.
    #[error("record padding is not all zero")]
    NonZeroPadding,
    /// A text or resource body is not valid UTF-8.
    #[error("record body is not valid UTF-8")]
    InvalidUtf8,
    /// A text record has an empty body.
    #[error("text record is empty")]
    EmptyText,
    /// A typing, read, end or block body has the wrong length or value.
    #[error("record body does not match its type")]
    InvalidBody,
    /// A resource card is not the expected JSON object or its title is empty.
    #[error("invalid resource card")]
    InvalidResource,
    /// The record does not fit in the largest bucket.
    #[error("record too long")]
    TooLong,
}

impl RecordError {
    /// Stable snake_case code, shared with every other implementation.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidLength => "record_invalid_length",
            Self::UnknownType => "record_unknown_type",
            Self::BodyOverrun => "record_body_overrun",
            Self::NonMinimalBucket => "record_non_minimal_bucket",
            Self::NonZeroPadding => "record_nonzero_padding",
            Self::InvalidUtf8 => "record_invalid_utf8",
            Self::EmptyText => "record_empty_text",
            Self::InvalidBody => "record_invalid_body",
            Self::InvalidResource => "record_invalid_resource",
            Self::TooLong => "record_too_long",
        }
    }
}

/// The smallest bucket holding `len` bytes, if any.
fn bucket_for(len: usize) -> Option<usize> {
    BUCKETS.iter().copied().find(|&b| b >= len)
}

fn resource_valid(card: &ResourceCard) -> bool {
    !card.title.is_empty()
}

/// Encodes `record` into exactly one bucket: type, u16 BE length, body, zero padding.
///
/// # Errors
/// `TooLong` if the body does not fit the largest bucket; `EmptyText` / `InvalidResource`
/// for records the decoder would refuse.
pub fn encode_padded(record: &Record) -> Result<Vec<u8>, RecordError> {
    let (kind, body): (u8, Vec<u8>) = match record {
        Record::Text(text) => {
            if text.is_empty() {
                return Err(RecordError::EmptyText);
            }
            (kind::TEXT, text.as_bytes().to_vec())
        }
        Record::Typing(on) => (kind::TYPING, vec![u8::from(*on)]),
        Record::Read(count) => (kind::READ, count.to_be_bytes().to_vec()),
        Record::End => (kind::END, Vec::new()),
        Record::Block => (kind::BLOCK, Vec::new()),
        Record::Resource(card) => {
            if !resource_valid(card) {
                return Err(RecordError::InvalidResource);
            }
            let json = serde_json::to_vec(card).map_err(|_| RecordError::InvalidResource)?;
            (kind::RESOURCE, json)
        }
        Record::Unknown { kind, body } => {
            if !(kind::FIRST_SKIPPABLE..=kind::LAST_SKIPPABLE).contains(kind) {
                return Err(RecordError::UnknownType);
            }
            (*kind, body.clone())
        }
    };
    let body_len = u16::try_from(body.len()).map_err(|_| RecordError::TooLong)?;
    let total = body
        .len()
        .checked_add(RECORD_HEADER_LEN)
        .ok_or(RecordError::TooLong)?;
    let bucket = bucket_for(total).ok_or(RecordError::TooLong)?;
    let mut out = Vec::with_capacity(bucket);
    out.push(kind);
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&body);
    out.resize(bucket, 0);
    Ok(out)
}

/// Decodes one padded record, checking in this order: bucket length, type, body length,
/// minimal bucket, zero padding, then the per-type body rules.
///
/// # Errors
/// The first rule the input breaks, as a [`RecordError`].
pub fn decode_padded(padded: &[u8]) -> Result<Record, RecordError> {
    if !BUCKETS.contains(&padded.len()) {
        return Err(RecordError::InvalidLength);
    }
    let (header, rest) = padded
        .split_first_chunk::<RECORD_HEADER_LEN>()
        .ok_or(RecordError::InvalidLength)?;
    let [kind, len_hi, len_lo] = *header;
    if !(kind::TEXT..=kind::LAST_SKIPPABLE).contains(&kind) {
        return Err(RecordError::UnknownType);
    }
    let body_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
    if body_len > rest.len() {
        return Err(RecordError::BodyOverrun);
    }
    if bucket_for(body_len.saturating_add(RECORD_HEADER_LEN)) != Some(padded.len()) {
        return Err(RecordError::NonMinimalBucket);
    }
    let (body, padding) = rest.split_at(body_len);
    // Padding is not secret, but checking it with a fold keeps timing independent of where a
    // stray byte sits.
    if padding.iter().fold(0_u8, |acc, b| acc | b) != 0 {
        return Err(RecordError::NonZeroPadding);
    }
    decode_body(kind, body)
}

fn decode_body(kind: u8, body: &[u8]) -> Result<Record, RecordError> {
    match kind {
        kind::TEXT => {
            let text = std::str::from_utf8(body).map_err(|_| RecordError::InvalidUtf8)?;
            if text.is_empty() {
                return Err(RecordError::EmptyText);
            }
            Ok(Record::Text(text.to_owned()))
        }
        kind::TYPING => match body {
            [0] => Ok(Record::Typing(false)),
            [1] => Ok(Record::Typing(true)),
            _ => Err(RecordError::InvalidBody),
        },
        kind::READ => {
            let bytes: [u8; 8] = body.try_into().map_err(|_| RecordError::InvalidBody)?;
            Ok(Record::Read(u64::from_be_bytes(bytes)))
        }
        kind::END | kind::BLOCK => {
            if !body.is_empty() {
                return Err(RecordError::InvalidBody);
            }
            Ok(if kind == kind::END {
                Record::End
            } else {
                Record::Block
            })
        }
        kind::RESOURCE => {
            let text = std::str::from_utf8(body).map_err(|_| RecordError::InvalidUtf8)?;
            let card: ResourceCard =
                serde_json::from_str(text).map_err(|_| RecordError::InvalidResource)?;
            if !resource_valid(&card) {
                return Err(RecordError::InvalidResource);
            }
            Ok(Record::Resource(card))
        }
        kind::FIRST_SKIPPABLE..=kind::LAST_SKIPPABLE => Ok(Record::Unknown {
            kind,
            body: body.to_vec(),
        }),
        _ => Err(RecordError::UnknownType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(kind: u8, body: &[u8], size: usize) -> Vec<u8> {
        let mut v = vec![kind];
        v.extend_from_slice(&u16::try_from(body.len()).expect("len").to_be_bytes());
        v.extend_from_slice(body);
        v.resize(size, 0);
        v
    }

    #[test]
    fn buckets_are_minimal() {
        let r = Record::Text("a".repeat(253));
        assert_eq!(encode_padded(&r).expect("fits").len(), 256);
        let r = Record::Text("a".repeat(254));
        assert_eq!(encode_padded(&r).expect("fits").len(), 1024);
        let r = Record::Text("a".repeat(MAX_TEXT_BYTES));
        assert_eq!(encode_padded(&r).expect("fits").len(), 16384);
        let r = Record::Text("a".repeat(MAX_TEXT_BYTES + 1));
        assert_eq!(encode_padded(&r), Err(RecordError::TooLong));
    }

    #[test]
    fn rejects_each_rule() {
        assert_eq!(decode_padded(&[0; 255]), Err(RecordError::InvalidLength));
        assert_eq!(decode_padded(&[]), Err(RecordError::InvalidLength));
        assert_eq!(
            decode_padded(&raw(0, b"", 256)),
            Err(RecordError::UnknownType)
        );
        assert_eq!(
            decode_padded(&raw(7, b"later", 256)),
            Ok(Record::Unknown {
                kind: 7,
                body: b"later".to_vec()
            })
        );
        assert_eq!(
            decode_padded(&raw(0x80, b"", 256)),
            Err(RecordError::UnknownType)
        );
        assert_eq!(
            encode_padded(&Record::Unknown {
                kind: 0x80,
                body: vec![]
            }),
            Err(RecordError::UnknownType)
        );
        let mut over = raw(1, b"a", 256);
        over[1] = 0x01;
        assert_eq!(decode_padded(&over), Err(RecordError::BodyOverrun));
        assert_eq!(
            decode_padded(&raw(1, b"a", 1024)),
            Err(RecordError::NonMinimalBucket)
        );
        let mut pad = raw(1, b"a", 256);
        pad[255] = 1;
        assert_eq!(decode_padded(&pad), Err(RecordError::NonZeroPadding));
        assert_eq!(
            decode_padded(&raw(1, b"", 256)),
            Err(RecordError::EmptyText)
        );
        assert_eq!(
            decode_padded(&raw(1, &[0xff], 256)),
            Err(RecordError::InvalidUtf8)
        );
        assert_eq!(
            decode_padded(&raw(2, &[2], 256)),
            Err(RecordError::InvalidBody)
        );
        assert_eq!(
            decode_padded(&raw(2, &[], 256)),
            Err(RecordError::InvalidBody)
        );
        assert_eq!(
            decode_padded(&raw(3, &[0; 7], 256)),
            Err(RecordError::InvalidBody)
        );
        assert_eq!(
            decode_padded(&raw(4, &[0], 256)),
            Err(RecordError::InvalidBody)
        );
        assert_eq!(
            decode_padded(&raw(5, &[0], 256)),
            Err(RecordError::InvalidBody)
        );
        assert_eq!(
            decode_padded(&raw(6, br#"{"title":"x","extra":1}"#, 256)),
            Err(RecordError::InvalidResource)
        );
        assert_eq!(
            decode_padded(&raw(6, br#"{"title":""}"#, 256)),
            Err(RecordError::InvalidResource)
        );
        assert_eq!(
            decode_padded(&raw(6, br#"{"title":"x"}"#, 256)),
            Ok(Record::Resource(ResourceCard {
                title: "x".into(),
                url: None,
                phone: None
            }))
        );
    }

    fn any_record() -> impl Strategy<Value = Record> {
        prop_oneof![
            ".{1,300}".prop_map(Record::Text),
            any::<bool>().prop_map(Record::Typing),
            any::<u64>().prop_map(Record::Read),
            Just(Record::End),
            Just(Record::Block),
            (
                ".{1,40}",
                proptest::option::of(".{0,40}"),
                proptest::option::of("[0-9+ ]{0,20}")
            )
                .prop_map(|(title, url, phone)| Record::Resource(ResourceCard {
                    title,
                    url,
                    phone
                })),
        ]
    }

    proptest! {
        #[test]
        fn round_trips(record in any_record()) {
            let padded = encode_padded(&record).expect("encodes");
            prop_assert!(BUCKETS.contains(&padded.len()));
            prop_assert_eq!(decode_padded(&padded).expect("decodes"), record);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = decode_padded(&bytes);
        }

        #[test]
        fn decoded_reencodes_identically(kind in 1_u8..=6, body in proptest::collection::vec(any::<u8>(), 0..40)) {
            let padded = raw(kind, &body, 256);
            if let Ok(record) = decode_padded(&padded) {
                // Resource JSON may be re-serialised differently; everything else is canonical.
                if !matches!(record, Record::Resource(_)) {
                    prop_assert_eq!(encode_padded(&record).expect("encodes"), padded);
                }
            }
        }
    }
}
