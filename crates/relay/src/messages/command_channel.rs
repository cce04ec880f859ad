//! The hub's command channel to one connection: unbounded (the hub never waits on a
//! connection), one sender (the hub's entry), one receiver (the connection's task).
//!
//! A `VecDeque` under a small mutex rather than `tokio::sync::mpsc::unbounded_channel`,
//! which allocates a block of 32 slots and its cache-padded state up front for every
//! connection; a connection gets a handful of commands in its life (`docs/performance.md`).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use super::conn_command::ConnCommand;

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    waker: AtomicWaker,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<ConnCommand>,
    /// The sender is gone: the receiver sees the end once the queue is empty.
    sender_gone: bool,
    /// The receiver is gone: nothing more is accepted.
    receiver_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A new channel.
pub(crate) fn channel() -> (CommandSender, CommandReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        waker: AtomicWaker::new(),
    });
    (
        CommandSender {
            shared: shared.clone(),
        },
        CommandReceiver { shared },
    )
}

/// The hub's end.
#[derive(Debug)]
pub(crate) struct CommandSender {
    shared: Arc<Shared>,
}

impl CommandSender {
    /// Queues a command; gives it back if the connection's task is gone.
    pub(crate) fn send(&self, command: ConnCommand) -> Result<(), ConnCommand> {
        {
            let mut state = self.shared.lock();
            if state.receiver_gone {
                return Err(command);
            }
            state.queue.push_back(command);
        }
        self.shared.waker.wake();
        Ok(())
    }
}

impl Drop for CommandSender {
    fn drop(&mut self) {
        self.shared.lock().sender_gone = true;
        self.shared.waker.wake();
    }
}

/// The connection's end.
#[derive(Debug)]
pub(crate) struct CommandReceiver {
    shared: Arc<Shared>,
}

impl CommandReceiver {
    /// The next command; `None` once the sender is gone and every command was taken.
    pub(crate) async fn recv(&mut self) -> Option<ConnCommand> {
        poll_fn(|cx| {
            if let Some(next) = self.try_next() {
                return Poll::Ready(next);
            }
            // Register, then look again: a command sent in between is not missed.
            self.shared.waker.register(cx.waker());
            match self.try_next() {
                Some(next) => Poll::Ready(next),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// `Some(Some(command))`, `Some(None)` at the end, `None` if nothing is there yet.
    fn try_next(&self) -> Option<Option<ConnCommand>> {
        let mut state = self.shared.lock();
        match state.queue.pop_front() {
            Some(command) => {
                if state.queue.is_empty() {
                    // Give back what a burst of routes grew.
                    state.queue = VecDeque::new();
                }
                Some(Some(command))
            }
            None if state.sender_gone => Some(None),
            None => None,
        }
    }
}

impl Drop for CommandReceiver {
    fn drop(&mut self) {
        let dropped = {
            let mut state = self.shared.lock();
            state.receiver_gone = true;
            std::mem::take(&mut state.queue)
        };
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use confidant_proto::ChatNumber;

    use super::*;

    #[tokio::test]
    async fn in_order_then_end() {
        let (tx, mut rx) = channel();
        assert!(tx.send(ConnCommand::RemoveChat(ChatNumber(1))).is_ok());
        assert!(tx.send(ConnCommand::Terminate).is_ok());
        drop(tx);
        assert!(matches!(
            rx.recv().await,
            Some(ConnCommand::RemoveChat(ChatNumber(1)))
        ));
        assert!(matches!(rx.recv().await, Some(ConnCommand::Terminate)));
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn refused_once_the_receiver_is_gone() {
        let (tx, rx) = channel();
        drop(rx);
        assert!(tx.send(ConnCommand::Terminate).is_err());
    }
}
