//! Round-trip and property tests for every codec in the protocol crate.

use confidant_proto::limits::{DATA_HEADER_LEN, MAX_CAPACITY, MAX_DATA_FRAME, MAX_NOISE_MESSAGE};
use confidant_proto::{
    Availability, Base64Bytes, ChatEndReason, ChatNumber, ClientFrame, Credential, DataFrame,
    DecodeError, ErrorCode, NoPeerReason, OfferWithdrawnReason, ProgramInfo, RelayFrame, Resource,
    Role, SeekPreferences,
};
use proptest::prelude::*;

fn tag() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,64}"
}

fn bytes(max: usize) -> impl Strategy<Value = Base64Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Base64Bytes)
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        ".{1,40}",
        proptest::option::of(".{0,40}"),
        proptest::option::of("[0-9 +-]{0,20}"),
        proptest::option::of(".{0,40}"),
    )
        .prop_map(|(title, url, phone, email)| Resource {
            title,
            url,
            phone,
            email,
        })
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (
            any::<u64>(),
            prop_oneof![Just(Role::Seeker), Just(Role::Peer)],
            tag(),
            proptest::option::of(proptest::collection::vec(tag(), 0..4)),
            proptest::option::of(proptest::collection::vec(tag(), 0..4)),
        )
            .prop_map(
                |(v, role, program, features, chat_features)| ClientFrame::Hello {
                    v,
                    role,
                    program,
                    features,
                    chat_features
                }
            ),
        (bytes(300), bytes(300), bytes(300)).prop_map(|(i, s, r)| ClientFrame::Present {
            issuer_certificate: i,
            supporter_certificate: s,
            revocation_list: r,
        }),
        bytes(100).prop_map(|answer| ClientFrame::Prove { answer }),
        (
            prop_oneof![Just(Availability::Available), Just(Availability::Away)],
            1..=MAX_CAPACITY,
            proptest::collection::vec(tag(), 0..16),
            proptest::collection::vec(tag(), 0..16),
            any::<bool>(),
        )
            .prop_map(|(status, capacity, topics, languages, auto_accept)| {
                ClientFrame::SetAvailability {
                    status,
                    capacity,
                    topics,
                    languages,
                    auto_accept,
                }
            }),
        (
            proptest::option::of(tag()),
            proptest::option::of(tag()),
            proptest::option::of(tag())
        )
            .prop_map(|(topic, language, peer_role)| ClientFrame::Seek {
                urgent: topic.is_some(),
                preferences: SeekPreferences {
                    topic,
                    language,
                    peer_role
                },
            }),
        Just(ClientFrame::Cancel {}),
        any::<u32>().prop_map(|offer| ClientFrame::Accept { offer }),
        any::<u32>().prop_map(|offer| ClientFrame::Decline { offer }),
        any::<u32>().prop_map(|c| ClientFrame::End {
            chat: ChatNumber(c)
        }),
        any::<u32>().prop_map(|c| ClientFrame::Block {
            chat: ChatNumber(c)
        }),
        any::<u32>().prop_map(|c| ClientFrame::Pass {
            chat: ChatNumber(c)
        }),
        (proptest::collection::vec(any::<u8>(), 32), any::<u64>()).prop_map(
            |(secret, received)| {
                ClientFrame::Resume {
                    secret: secret.into(),
                    received,
                }
            }
        ),
        any::<u64>().prop_map(|received| ClientFrame::Ack { received }),
    ]
}

fn relay_frame() -> impl Strategy<Value = RelayFrame> {
    let program = (
        tag(),
        ".{0,40}",
        proptest::collection::vec(tag(), 0..4),
        proptest::collection::vec(resource(), 0..3),
        any::<u32>(),
        proptest::option::of(proptest::collection::vec(resource(), 0..3)),
        proptest::option::of(proptest::collection::vec(".{1,20}", 0..3)),
    )
        .prop_map(
            |(id, name, topics, resources, wait, emergency, departments)| ProgramInfo {
                id,
                name,
                root_key: "00".repeat(32),
                topics: topics.clone(),
                languages: topics.clone(),
                peer_roles: topics.clone(),
                resources,
                wait_limit_secs: wait,
                confidentiality: departments
                    .as_ref()
                    .map(|_| [("en".to_owned(), "Nothing is recorded.".to_owned())].into()),
                labels: emergency.as_ref().map(|_| {
                    [(
                        "fr".to_owned(),
                        topics
                            .iter()
                            .map(|t| (t.clone(), t.to_uppercase()))
                            .collect(),
                    )]
                    .into()
                }),
                emergency,
                departments,
            },
        );
    prop_oneof![
        (
            program,
            proptest::option::of(proptest::collection::vec(tag(), 0..4))
        )
            .prop_map(|(program, features)| RelayFrame::Welcome {
                v: 1,
                role: Role::Seeker,
                program,
                features,
                resume: None,
            }),
        bytes(64).prop_map(|challenge| RelayFrame::Challenge { challenge }),
        ".{0,40}".prop_map(|display_name| RelayFrame::Verified { display_name }),
        (any::<u16>(), any::<u16>()).prop_map(|(capacity, active_chats)| {
            RelayFrame::AvailabilitySet {
                status: Availability::Available,
                capacity,
                active_chats,
            }
        }),
        (
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(
                |(position, peers_online, estimate_secs)| RelayFrame::Queued {
                    position,
                    peers_online,
                    estimate_secs,
                    none: (peers_online == 0).then_some(confidant_proto::QueueNone::NoneOnline),
                }
            ),
        Just(RelayFrame::Cancelled {}),
        proptest::collection::vec(resource(), 0..3).prop_map(|resources| RelayFrame::NoPeer {
            reason: NoPeerReason::WaitLimit,
            resources
        }),
        (any::<u32>(), proptest::option::of(tag()), any::<u32>()).prop_map(
            |(offer, topic, expires_in_ms)| RelayFrame::Offer {
                offer,
                topic,
                language: None,
                expires_in_ms,
                urgent: offer % 2 == 0
            }
        ),
        any::<u32>().prop_map(|offer| RelayFrame::OfferWithdrawn {
            offer,
            reason: OfferWithdrawnReason::Timeout
        }),
        (
            any::<u32>(),
            bytes(200),
            bytes(200),
            bytes(200),
            proptest::option::of(proptest::collection::vec(tag(), 0..4))
        )
            .prop_map(|(c, i, s, r, chat_features)| {
                RelayFrame::Matched {
                    chat: ChatNumber(c),
                    credential: Credential {
                        issuer_certificate: i,
                        supporter_certificate: s,
                        revocation_list: r,
                    },
                    chat_features,
                }
            }),
        (
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(proptest::collection::vec(tag(), 0..4))
        )
            .prop_map(|(c, offer, chat_features)| RelayFrame::ChatStarted {
                chat: ChatNumber(c),
                offer,
                chat_features
            }),
        any::<u32>().prop_map(|c| RelayFrame::ChatEnded {
            chat: ChatNumber(c),
            reason: ChatEndReason::SlowReader
        }),
        any::<u32>().prop_map(|deadline_ms| RelayFrame::Shutdown { deadline_ms }),
        (proptest::collection::vec(any::<u8>(), 32), any::<u64>()).prop_map(
            |(secret, received)| {
                RelayFrame::Resumed {
                    secret: secret.into(),
                    received,
                }
            }
        ),
        any::<u64>().prop_map(|received| RelayFrame::Ack { received }),
        any::<u32>().prop_map(|c| RelayFrame::PartnerAway {
            chat: ChatNumber(c)
        }),
        any::<u32>().prop_map(|c| RelayFrame::PartnerBack {
            chat: ChatNumber(c)
        }),
        proptest::sample::select(ErrorCode::ALL.to_vec()).prop_map(RelayFrame::error),
    ]
}

proptest! {
    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        let json = frame.to_json();
        prop_assert_eq!(ClientFrame::from_json(json.as_bytes()), Ok(frame));
    }

    #[test]
    fn relay_frames_round_trip(frame in relay_frame()) {
        let json = frame.to_json();
        prop_assert_eq!(RelayFrame::from_json(json.as_bytes()), Ok(frame));
    }

    #[test]
    fn data_frames_round_trip(
        chat in 1..=u32::MAX,
        payload in proptest::collection::vec(any::<u8>(), 1..=MAX_NOISE_MESSAGE),
    ) {
        let encoded = DataFrame::encode(ChatNumber(chat), &payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(encoded.len(), DATA_HEADER_LEN + payload.len());
        let decoded = DataFrame::decode(&encoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.chat, ChatNumber(chat));
        prop_assert_eq!(decoded.noise_message, &payload[..]);
    }

    #[test]
    fn rewriting_the_chat_number_keeps_the_payload(
        from in 1..=u32::MAX,
        to in 1..=u32::MAX,
        payload in proptest::collection::vec(any::<u8>(), 1..200),
    ) {
        let mut frame = DataFrame::encode(ChatNumber(from), &payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
        DataFrame::rewrite_chat(&mut frame, ChatNumber(to)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let decoded = DataFrame::decode(&frame).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.chat, ChatNumber(to));
        prop_assert_eq!(decoded.noise_message, &payload[..]);
    }

    /// Arbitrary bytes never panic either decoder; they give a frame or a typed error.
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = ClientFrame::from_json(&input);
        let _ = RelayFrame::from_json(&input);
        let _ = DataFrame::decode(&input);
    }

    /// Arbitrary JSON-looking text with a known type never panics and errors are typed.
    #[test]
    fn mutated_json_gives_typed_errors(frame in client_frame(), cut in any::<prop::sample::Index>()) {
        let json = frame.to_json();
        let truncated = json.as_bytes().get(..cut.index(json.len())).unwrap_or_default();
        match ClientFrame::from_json(truncated) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.code() == ErrorCode::MalformedFrame || e.code() == ErrorCode::InvalidField),
        }
    }
}

#[test]
fn data_frame_limits_are_enforced() {
    assert_eq!(DataFrame::decode(&[]), Err(DecodeError::Truncated));
    assert_eq!(
        DataFrame::decode(&[0, 0, 0, 1]),
        Err(DecodeError::Truncated)
    );
    assert!(matches!(
        DataFrame::decode(&[0, 0, 0, 0, 9]),
        Err(DecodeError::Invalid { field: "chat", .. })
    ));
    let oversized = vec![1u8; MAX_DATA_FRAME + 1];
    assert_eq!(
        DataFrame::decode(&oversized).map_err(|e| e.code()),
        Err(ErrorCode::FrameTooLarge)
    );
    let largest = vec![1u8; MAX_DATA_FRAME];
    assert!(DataFrame::decode(&largest).is_ok());
    assert!(DataFrame::encode(ChatNumber(1), &vec![0; MAX_NOISE_MESSAGE + 1]).is_err());
    assert!(DataFrame::encode(ChatNumber(1), &[]).is_err());
}

#[test]
fn control_frames_refuse_unknown_fields_and_types() {
    let cases: [(&str, ErrorCode); 7] = [
        (
            r#"{"type":"seek","preferences":{},"extra":1}"#,
            ErrorCode::MalformedFrame,
        ),
        (
            r#"{"type":"seek","preferences":{"department":"x"}}"#,
            ErrorCode::MalformedFrame,
        ),
        (r#"{"type":"teleport"}"#, ErrorCode::MalformedFrame),
        (r#"{"v":1}"#, ErrorCode::MalformedFrame),
        (r#"not json"#, ErrorCode::MalformedFrame),
        (
            r#"{"type":"set_availability","status":"available","capacity":17}"#,
            ErrorCode::InvalidField,
        ),
        (
            r#"{"type":"seek","preferences":{"topic":"Not A Tag"}}"#,
            ErrorCode::InvalidField,
        ),
    ];
    for (json, code) in cases {
        let got = ClientFrame::from_json(json.as_bytes()).map_err(|e| e.code());
        assert_eq!(got, Err(code), "{json}");
    }
    let huge = format!(
        r#"{{"type":"prove","answer":"{}"}}"#,
        "A".repeat(confidant_proto::limits::MAX_CONTROL_FRAME)
    );
    assert_eq!(
        ClientFrame::from_json(huge.as_bytes()).map_err(|e| e.code()),
        Err(ErrorCode::FrameTooLarge)
    );
}

#[test]
fn seek_without_preferences_is_accepted() {
    assert_eq!(
        ClientFrame::from_json(br#"{"type":"seek"}"#),
        Ok(ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false
        })
    );
}

#[test]
fn error_catalogue_is_complete_and_stable() {
    let mut seen = std::collections::HashSet::new();
    for code in ErrorCode::ALL {
        assert!(seen.insert(code.as_str()), "duplicate code {code}");
        let json = serde_json::to_string(&code).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", code.as_str()));
        assert!(!code.message().is_empty());
        if let Some(close) = code.close_code() {
            assert!(
                (1000..=1014).contains(&close) || (4000..=4999).contains(&close),
                "{code}: close code {close} outside the allowed ranges"
            );
        }
    }
}

#[test]
fn roles_are_assigned_to_frames() {
    assert_eq!(
        ClientFrame::seek(SeekPreferences::default()).sender_role(),
        Some(Role::Seeker)
    );
    assert_eq!(
        ClientFrame::Accept { offer: 1 }.sender_role(),
        Some(Role::Peer)
    );
    assert_eq!(
        ClientFrame::End {
            chat: ChatNumber(1)
        }
        .sender_role(),
        None
    );
}
