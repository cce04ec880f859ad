//! Feature `resume`: the messages the relay wrote to a client and the client has not yet
//! acknowledged (`proto/spec.md`, "Resume"). Messages are counted from 1 after `welcome`;
//! the client's `ack` (or `resume.received`) says how many it has, and those are dropped. A
//! data frame's slot in its chat's buffer budget is given back only then, so what is kept is
//! bounded by the budgets a connected slow reader has today; control frames are bounded by
//! `keep` (the writer takes nothing more from the outbox at the bound).

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::ws::Message;

use crate::data_path::{ChatLink, Side};

/// A count that does not fit what was written: a broken or lying client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ReplayError;

/// One written, unacknowledged message.
struct Kept {
    message: Message,
    /// For a data frame: its chat and side, told when the frame is acknowledged.
    link: Option<(Arc<ChatLink>, Side)>,
}

/// The counted stream towards one client.
pub(super) struct Replay {
    /// Counted messages written so far.
    sent: u64,
    /// Counted messages the client acknowledged; `kept` holds numbers `acked + 1 ..= sent`.
    acked: u64,
    kept: VecDeque<Kept>,
    /// Most messages kept at once.
    keep: usize,
}

impl Replay {
    pub(super) fn new(keep: usize) -> Self {
        Self {
            sent: 0,
            acked: 0,
            kept: VecDeque::new(),
            keep: keep.max(1),
        }
    }

    /// Counts and keeps a message that is being written.
    pub(super) fn keep(&mut self, message: Message, link: Option<(Arc<ChatLink>, Side)>) {
        self.sent += 1;
        self.kept.push_back(Kept { message, link });
    }

    /// Whether the bound is reached: take nothing more from the outbox until an `ack`.
    pub(super) fn is_full(&self) -> bool {
        self.kept.len() >= self.keep
    }

    /// `ack {received}`: drops what the client has. A count above what was written is an
    /// error; one below an earlier acknowledgement changes nothing (acks may cross).
    pub(super) fn acknowledged(&mut self, received: u64) -> Result<(), ReplayError> {
        if received > self.sent {
            return Err(ReplayError);
        }
        while self.acked < received {
            self.acked += 1;
            if let Some(kept) = self.kept.pop_front()
                && let Some((link, side)) = kept.link
            {
                link.delivered(side);
            }
        }
        if self.kept.is_empty() && self.kept.capacity() > 64 {
            self.kept = VecDeque::new();
        }
        Ok(())
    }

    /// `resume {received}`: like an acknowledgement, except that a count below what the
    /// client already acknowledged is an error too (those messages are gone).
    pub(super) fn acknowledged_on_resume(&mut self, received: u64) -> Result<(), ReplayError> {
        if received < self.acked {
            return Err(ReplayError);
        }
        self.acknowledged(received)
    }

    /// The kept messages, in order, to write again on a new socket.
    pub(super) fn unacknowledged(&self) -> impl Iterator<Item = Message> + '_ {
        self.kept.iter().map(|kept| kept.message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: u64) -> Message {
        Message::Text(n.to_string().into())
    }

    #[test]
    fn keeps_until_acknowledged_and_refuses_counts_that_do_not_fit() {
        let mut replay = Replay::new(3);
        for n in 1..=3 {
            replay.keep(text(n), None);
        }
        assert!(replay.is_full());
        assert_eq!(
            replay.acknowledged(4),
            Err(ReplayError),
            "more than written"
        );
        replay.acknowledged(2).unwrap();
        assert!(!replay.is_full());
        // An older ack crossing a newer one changes nothing.
        replay.acknowledged(1).unwrap();
        assert_eq!(replay.unacknowledged().collect::<Vec<_>>(), vec![text(3)]);
        // A resume may not claim less than was acknowledged.
        assert_eq!(replay.acknowledged_on_resume(1), Err(ReplayError));
        replay.keep(text(4), None);
        replay.acknowledged_on_resume(3).unwrap();
        assert_eq!(replay.unacknowledged().collect::<Vec<_>>(), vec![text(4)]);
    }
}
