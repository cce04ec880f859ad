//! Structure-aware fuzzing of one relay connection's protocol state machine: arbitrary
//! sequences of well-formed control frames (built from typed values, so the state machine
//! is reached past the parser), raw text, data frames and raw binary, pings and time, run
//! through `confidant_relay::fuzzing::run_session`, which panics when an invariant breaks
//! (see its documentation).
#![no_main]

use arbitrary::Arbitrary;
use confidant_proto::{
    Availability, Base64Bytes, ChatNumber, ClientFrame, DataFrame, Role, SeekPreferences,
};
use confidant_relay::fuzzing::{Event, Outcomes, run_session};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Frame {
    Hello {
        v: u8,
        peer: bool,
        /// Offer every relay feature (the growth rules, `pass`, `queue-none`).
        features: bool,
    },
    Present {
        issuer: Vec<u8>,
        supporter: Vec<u8>,
        list: Vec<u8>,
    },
    Prove(Vec<u8>),
    SetAvailability {
        away: bool,
        capacity: u16,
        topics: Vec<String>,
        auto_accept: bool,
    },
    Seek {
        topic: Option<String>,
        language: Option<String>,
    },
    Cancel,
    Accept(u32),
    Decline(u32),
    End(u32),
    Block(u32),
    Pass(u32),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Frame(Frame),
    RawText(Vec<u8>),
    Data { chat: u32, payload: Vec<u8> },
    RawBinary(Vec<u8>),
    Ping,
    Wait(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    program_known: bool,
    credential_ok: bool,
    proof_ok: bool,
    rate: u8,
    burst: u8,
    ops: Vec<Op>,
}

fn frame(frame: Frame) -> ClientFrame {
    match frame {
        Frame::Hello { v, peer, features } => ClientFrame::Hello {
            v: u64::from(v),
            role: if peer { Role::Peer } else { Role::Seeker },
            program: "fuzz-program".into(),
            features: features.then(|| {
                confidant_proto::RELAY_FEATURES
                    .iter()
                    .map(|f| (*f).to_owned())
                    .collect()
            }),
            chat_features: None,
        },
        Frame::Present {
            issuer,
            supporter,
            list,
        } => ClientFrame::Present {
            issuer_certificate: Base64Bytes(issuer),
            supporter_certificate: Base64Bytes(supporter),
            revocation_list: Base64Bytes(list),
        },
        Frame::Prove(answer) => ClientFrame::Prove {
            answer: Base64Bytes(answer),
        },
        Frame::SetAvailability {
            away,
            capacity,
            topics,
            auto_accept,
        } => ClientFrame::SetAvailability {
            status: if away {
                Availability::Away
            } else {
                Availability::Available
            },
            capacity,
            topics,
            languages: vec![],
            auto_accept,
        },
        Frame::Seek { topic, language } => ClientFrame::Seek {
            preferences: SeekPreferences {
                topic,
                language,
                ..SeekPreferences::default()
            },
        },
        Frame::Cancel => ClientFrame::Cancel {},
        Frame::Accept(offer) => ClientFrame::Accept { offer },
        Frame::Decline(offer) => ClientFrame::Decline { offer },
        Frame::End(chat) => ClientFrame::End {
            chat: ChatNumber(chat),
        },
        Frame::Block(chat) => ClientFrame::Block {
            chat: ChatNumber(chat),
        },
        Frame::Pass(chat) => ClientFrame::Pass {
            chat: ChatNumber(chat),
        },
    }
}

fuzz_target!(|input: Input| {
    let events: Vec<Event> = input
        .ops
        .into_iter()
        .take(256)
        .map(|op| match op {
            Op::Frame(f) => Event::Text(frame(f).to_json().into_bytes()),
            Op::RawText(bytes) => Event::Text(bytes),
            Op::Data { chat, payload } => {
                Event::Binary(DataFrame::encode(ChatNumber(chat), &payload).unwrap_or(payload))
            }
            Op::RawBinary(bytes) => Event::Binary(bytes),
            Op::Ping => Event::Ping,
            Op::Wait(ms) => Event::Wait(ms),
        })
        .collect();
    run_session(
        &events,
        Outcomes {
            program_known: input.program_known,
            credential_ok: input.credential_ok,
            proof_ok: input.proof_ok,
            rate: (u32::from(input.rate), u32::from(input.burst)),
        },
    );
});
