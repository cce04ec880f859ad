//! The per-connection protocol state machine, without I/O.
//!
//! It decides, for each frame, whether the connection's role and phase allow it and what
//! kind of handling follows; the async driver does the handling. Checks in order: a second
//! `hello` or anything before `hello` is `unexpected_frame`; a frame for the other role is
//! `wrong_role`; a frame the phase does not allow is `unexpected_frame`, except where the
//! spec's table for peers gives a non-fatal answer before `verified`: `not_available` for
//! `set_availability`, `unknown_offer` for `accept`/`decline`, `unknown_chat` for
//! `end`/`block` and data frames (`proto/spec.md`, "Peer connections").

use confidant_proto::{ClientFrame, ErrorCode, Role};

/// Where a connection is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing received yet.
    AwaitHello,
    /// A seeker after `welcome`: may seek, cancel, end and send data.
    Seeker,
    /// A peer after `welcome`, before `present`.
    PeerAwaitPresent,
    /// A peer that was sent a `challenge`.
    PeerAwaitProof,
    /// A peer whose credential and possession verified.
    PeerVerified,
}

/// What the driver does with an admitted frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Check version and program, send `welcome`.
    Hello,
    /// Verify the chain, send `challenge`.
    Present,
    /// Verify the answer, send `verified`.
    Prove,
    /// Matching or chat frame: hand to the hub.
    ToHub,
}

impl Phase {
    /// The connection's role, once known.
    pub(crate) fn role(self) -> Option<Role> {
        match self {
            Self::AwaitHello => None,
            Self::Seeker => Some(Role::Seeker),
            Self::PeerAwaitPresent | Self::PeerAwaitProof | Self::PeerVerified => Some(Role::Peer),
        }
    }

    /// Whether the hello deadline (which also covers the peer's proof) still runs.
    pub(crate) fn hello_pending(self) -> bool {
        matches!(
            self,
            Self::AwaitHello | Self::PeerAwaitPresent | Self::PeerAwaitProof
        )
    }

    /// What a well-formed data frame meets: `Ok` if the chat lookup decides, or the answer
    /// the spec gives in this phase (before `hello`: fatal; a peer not yet verified has no
    /// chat, so `unknown_chat`, and the connection continues).
    pub(crate) fn admit_data(self) -> Result<(), ErrorCode> {
        match self {
            Self::Seeker | Self::PeerVerified => Ok(()),
            Self::AwaitHello => Err(ErrorCode::UnexpectedFrame),
            Self::PeerAwaitPresent | Self::PeerAwaitProof => Err(ErrorCode::UnknownChat),
        }
    }

    /// Decides whether `frame` may be handled now.
    pub(crate) fn admit(self, frame: &ClientFrame) -> Result<Admit, ErrorCode> {
        let Some(role) = self.role() else {
            return match frame {
                ClientFrame::Hello { .. } => Ok(Admit::Hello),
                _ => Err(ErrorCode::UnexpectedFrame),
            };
        };
        if matches!(frame, ClientFrame::Hello { .. }) {
            return Err(ErrorCode::UnexpectedFrame);
        }
        if frame.sender_role().is_some_and(|sender| sender != role) {
            return Err(ErrorCode::WrongRole);
        }
        match (self, frame) {
            (Self::Seeker, _) => Ok(Admit::ToHub),
            (Self::PeerAwaitPresent, ClientFrame::Present { .. }) => Ok(Admit::Present),
            (Self::PeerAwaitProof, ClientFrame::Prove { .. }) => Ok(Admit::Prove),
            (
                Self::PeerAwaitPresent | Self::PeerAwaitProof,
                ClientFrame::SetAvailability { .. },
            ) => Err(ErrorCode::NotAvailable),
            (
                Self::PeerAwaitPresent | Self::PeerAwaitProof,
                ClientFrame::Accept { .. } | ClientFrame::Decline { .. },
            ) => Err(ErrorCode::UnknownOffer),
            (
                Self::PeerAwaitPresent | Self::PeerAwaitProof,
                ClientFrame::End { .. } | ClientFrame::Block { .. },
            ) => Err(ErrorCode::UnknownChat),
            (Self::PeerVerified, ClientFrame::Present { .. } | ClientFrame::Prove { .. }) => {
                Err(ErrorCode::UnexpectedFrame)
            }
            (Self::PeerVerified, _) => Ok(Admit::ToHub),
            _ => Err(ErrorCode::UnexpectedFrame),
        }
    }
}

#[cfg(test)]
mod tests {
    use confidant_proto::{Base64Bytes, ChatNumber, SeekPreferences};

    use super::*;

    fn hello() -> ClientFrame {
        ClientFrame::Hello {
            v: 1,
            role: Role::Seeker,
            program: "p".into(),
            features: None,
            chat_features: None,
        }
    }

    fn seek() -> ClientFrame {
        ClientFrame::Seek {
            preferences: SeekPreferences::default(),
            urgent: false,
        }
    }

    fn prove() -> ClientFrame {
        ClientFrame::Prove {
            answer: Base64Bytes(vec![1]),
        }
    }

    #[test]
    fn hello_first_and_only_once() {
        assert_eq!(Phase::AwaitHello.admit(&hello()), Ok(Admit::Hello));
        assert_eq!(
            Phase::AwaitHello.admit(&seek()),
            Err(ErrorCode::UnexpectedFrame)
        );
        assert_eq!(
            Phase::Seeker.admit(&hello()),
            Err(ErrorCode::UnexpectedFrame)
        );
        assert_eq!(
            Phase::PeerVerified.admit(&hello()),
            Err(ErrorCode::UnexpectedFrame)
        );
    }

    #[test]
    fn roles_are_enforced() {
        assert_eq!(Phase::Seeker.admit(&prove()), Err(ErrorCode::WrongRole));
        assert_eq!(
            Phase::PeerVerified.admit(&seek()),
            Err(ErrorCode::WrongRole)
        );
        assert_eq!(
            Phase::Seeker.admit(&ClientFrame::End {
                chat: ChatNumber(1)
            }),
            Ok(Admit::ToHub)
        );
    }

    #[test]
    fn peer_phases_in_order() {
        assert_eq!(
            Phase::PeerAwaitPresent.admit(&prove()),
            Err(ErrorCode::UnexpectedFrame)
        );
        assert_eq!(Phase::PeerAwaitProof.admit(&prove()), Ok(Admit::Prove));
        assert_eq!(
            Phase::PeerVerified.admit(&prove()),
            Err(ErrorCode::UnexpectedFrame)
        );
        let accept = ClientFrame::Accept { offer: 1 };
        assert_eq!(
            Phase::PeerAwaitProof.admit(&accept),
            Err(ErrorCode::UnknownOffer)
        );
        assert_eq!(
            Phase::PeerAwaitPresent.admit(&ClientFrame::Block {
                chat: ChatNumber(1)
            }),
            Err(ErrorCode::UnknownChat)
        );
        assert_eq!(Phase::PeerVerified.admit(&accept), Ok(Admit::ToHub));
        let availability = ClientFrame::SetAvailability {
            status: confidant_proto::Availability::Available,
            capacity: 1,
            topics: vec![],
            languages: vec![],
            auto_accept: false,
        };
        assert_eq!(
            Phase::PeerAwaitPresent.admit(&availability),
            Err(ErrorCode::NotAvailable)
        );
        assert!(Phase::PeerAwaitProof.hello_pending());
        assert!(!Phase::PeerVerified.hello_pending());
        assert_eq!(
            Phase::PeerAwaitProof.admit_data(),
            Err(ErrorCode::UnknownChat)
        );
        assert_eq!(
            Phase::AwaitHello.admit_data(),
            Err(ErrorCode::UnexpectedFrame)
        );
    }
}
