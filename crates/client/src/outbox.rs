//! What a protocol core asks its driver to do. The cores (`seeker_core`, `peer_core`) never
//! touch a socket: they take frames and commands and fill an [`Outbox`], which the async
//! driver then carries out in order. That keeps every state transition testable without
//! a network.

use confidant_proto::{ChatNumber, ClientFrame};

/// One thing to do, in order.
#[derive(Debug)]
pub(crate) enum Output<E> {
    /// Send a control frame to the relay.
    Control(ClientFrame),
    /// Send a data frame (already encrypted) on `chat`.
    Data {
        chat: ChatNumber,
        noise_message: Vec<u8>,
    },
    /// Tell the app.
    Event(E),
}

/// An ordered list of [`Output`]s.
#[derive(Debug)]
pub(crate) struct Outbox<E> {
    items: Vec<Output<E>>,
}

impl<E> Default for Outbox<E> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<E> Outbox<E> {
    pub(crate) fn control(&mut self, frame: ClientFrame) {
        self.items.push(Output::Control(frame));
    }

    pub(crate) fn data(&mut self, chat: ChatNumber, noise_message: Vec<u8>) {
        self.items.push(Output::Data {
            chat,
            noise_message,
        });
    }

    pub(crate) fn event(&mut self, event: E) {
        self.items.push(Output::Event(event));
    }

    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, Output<E>> {
        self.items.drain(..)
    }

    #[cfg(test)]
    pub(crate) fn take(&mut self) -> Vec<Output<E>> {
        std::mem::take(&mut self.items)
    }
}
