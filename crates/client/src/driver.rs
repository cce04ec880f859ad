//! The async plumbing that seeker and peer share: the command handle, the background task
//! that owns the WebSocket and runs a protocol core, and carrying out its outbox.

use confidant_proto::{ChatNumber, RelayFrame};
use tokio::sync::{mpsc, oneshot};

use crate::connection::{Connection, Incoming};
use crate::error::ClientError;
use crate::outbox::{Outbox, Output};

/// What the driver needs from an I/O-free protocol core (`SeekerCore`, `PeerCore`).
pub(crate) trait Core: Send + 'static {
    /// Something the app asked for.
    type Command: Send + 'static;
    /// What the app is told.
    type Event: Send + 'static;

    /// A control frame from the relay.
    fn on_frame(&mut self, frame: RelayFrame, out: &mut Outbox<Self::Event>);
    /// A data frame from the relay.
    fn on_data(&mut self, chat: ChatNumber, payload: &[u8], out: &mut Outbox<Self::Event>);
    /// A command from the app: a message number for `SendText`, nothing otherwise.
    fn on_command(
        &mut self,
        command: Self::Command,
        out: &mut Outbox<Self::Event>,
    ) -> Result<u64, ClientError>;
    /// The connection is gone.
    fn on_disconnect(&mut self, error: &ClientError, out: &mut Outbox<Self::Event>);
    /// The last event: the connection is gone.
    fn disconnected(error: ClientError) -> Self::Event;
}

/// A command with its reply slot.
type Envelope<C> = (C, oneshot::Sender<Result<u64, ClientError>>);

/// The sending side of a driver's command queue; cheap to clone.
pub(crate) struct Commands<C> {
    sender: mpsc::UnboundedSender<Envelope<C>>,
}

impl<C> Clone for Commands<C> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Commands<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.sender.fmt(f)
    }
}

impl<C> Commands<C> {
    /// Sends `command` and waits for the driver's answer.
    pub(crate) async fn call(&self, command: C) -> Result<u64, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send((command, reply))
            .map_err(|_| ClientError::Shutdown)?;
        answer.await.map_err(|_| ClientError::Shutdown)?
    }
}

/// The app's side of a running driver: its events and the means to stop it. Dropping it
/// closes the connection.
#[derive(Debug)]
pub(crate) struct Driver<E> {
    events: mpsc::UnboundedReceiver<E>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl<E: Send + 'static> Driver<E> {
    /// Spawns the task that owns `connection` and runs `core`.
    pub(crate) fn spawn<C: Core<Event = E>>(
        connection: Connection,
        core: C,
    ) -> (Commands<C::Command>, Self) {
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        // Unbounded so a slow app can never deadlock the driver against its own commands;
        // the relay's per-chat buffer bounds what can pile up.
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        tokio::spawn(drive(connection, core, command_rx, event_tx, shutdown_rx));
        (
            Commands { sender: command_tx },
            Self {
                events: event_rx,
                shutdown: Some(shutdown_tx),
            },
        )
    }
}

impl<E> Driver<E> {
    /// The next event, or `None` once the connection is gone.
    pub(crate) async fn next_event(&mut self) -> Option<E> {
        self.events.recv().await
    }

    /// Closes the connection.
    pub(crate) fn close(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl<E> Drop for Driver<E> {
    fn drop(&mut self) {
        self.close();
    }
}

async fn drive<C: Core>(
    mut connection: Connection,
    mut core: C,
    mut commands: mpsc::UnboundedReceiver<Envelope<C::Command>>,
    events: mpsc::UnboundedSender<C::Event>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut out = Outbox::default();
    let end_error = loop {
        tokio::select! {
            incoming = connection.recv() => match incoming {
                Ok(Incoming::Control(frame)) => core.on_frame(*frame, &mut out),
                Ok(Incoming::Data { chat, payload }) => core.on_data(chat, &payload, &mut out),
                Err(error) => break error,
            },
            command = commands.recv() => {
                let Some((command, reply)) = command else {
                    // Every handle is gone: nobody can act or listen any more.
                    break ClientError::Shutdown;
                };
                // Answer only after the frames went out, so a send failure reaches the
                // caller and a caller that then closes cannot overtake its own frames.
                let answer = core.on_command(command, &mut out);
                let flushed = flush(Some(&mut connection), &mut out, &events).await;
                match (answer, flushed) {
                    (answer, Ok(())) => {
                        let _ = reply.send(answer);
                    }
                    (_, Err(error)) => {
                        let _ = reply.send(Err(error.clone()));
                        break error;
                    }
                }
                continue;
            }
            _ = &mut shutdown => break ClientError::Shutdown,
        }
        if let Err(error) = flush(Some(&mut connection), &mut out, &events).await {
            break error;
        }
    };
    core.on_disconnect(&end_error, &mut out);
    let _ = flush(None, &mut out, &events).await;
    let _ = events.send(C::disconnected(end_error));
    connection.close().await;
}

/// Carries out the outbox in order. After the first send error (or with no connection)
/// frames are dropped but events are still delivered, so the app always learns how its
/// chats ended; the first error is returned.
async fn flush<E>(
    mut connection: Option<&mut Connection>,
    out: &mut Outbox<E>,
    events: &mpsc::UnboundedSender<E>,
) -> Result<(), ClientError> {
    let mut first_error = None;
    for item in out.drain() {
        let sent = match (item, connection.as_deref_mut()) {
            (Output::Event(event), _) => {
                // The app dropped its receiver; keep the protocol going regardless.
                let _ = events.send(event);
                Ok(())
            }
            (_, None) => Ok(()),
            (Output::Control(frame), Some(connection)) => connection.send_control(&frame).await,
            (
                Output::Data {
                    chat,
                    noise_message,
                },
                Some(connection),
            ) => connection.send_data(chat, &noise_message).await,
        };
        if let Err(error) = sent {
            connection = None;
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}
