//! The async plumbing that seeker and peer share: the command handle, the background task
//! that owns the WebSocket and runs a protocol core, and carrying out its outbox.

use std::sync::Arc;

use confidant_proto::{ChatNumber, RelayFrame};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::connection::Incoming;
use crate::error::ClientError;
use crate::link::{Link, LinkChange, Next};
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
    /// Feature `resume`: the socket was lost (the link is resuming), or it is back.
    fn on_link(&mut self, change: LinkChange, out: &mut Outbox<Self::Event>);
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
    /// Wakes the driver when the app says the network changed.
    network: Arc<Notify>,
}

impl<C> Clone for Commands<C> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            network: self.network.clone(),
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

    /// The app's network changed (or it came to the foreground): with feature `resume`, a
    /// socket that may be dead is replaced at once rather than at the keepalive deadline.
    pub(crate) fn network_changed(&self) {
        self.network.notify_one();
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
    pub(crate) fn spawn<C: Core<Event = E>>(link: Link, core: C) -> (Commands<C::Command>, Self) {
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        // Unbounded so a slow app can never deadlock the driver against its own commands;
        // the relay's per-chat buffer bounds what can pile up.
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let network = Arc::new(Notify::new());
        let channels = Channels {
            commands: command_rx,
            events: event_tx,
            shutdown: shutdown_rx,
            network: network.clone(),
        };
        tokio::spawn(drive(link, core, channels));
        (
            Commands {
                sender: command_tx,
                network,
            },
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

/// The driver task's ends of its channels.
struct Channels<C: Core> {
    commands: mpsc::UnboundedReceiver<Envelope<C::Command>>,
    events: mpsc::UnboundedSender<C::Event>,
    shutdown: oneshot::Receiver<()>,
    network: Arc<Notify>,
}

async fn drive<C: Core>(mut link: Link, mut core: C, channels: Channels<C>) {
    let Channels {
        mut commands,
        events,
        mut shutdown,
        network,
    } = channels;
    let mut out = Outbox::default();
    let end_error = loop {
        let deadline = link.next_deadline();
        tokio::select! {
            next = link.next() => match next {
                Next::Frame(Ok(Some(Incoming::Control(frame)))) => core.on_frame(*frame, &mut out),
                Next::Frame(Ok(Some(Incoming::Data { chat, payload }))) => {
                    core.on_data(chat, &payload, &mut out);
                }
                // The socket was lost; the link resumes (its notice follows).
                Next::Frame(Ok(None)) => {}
                Next::Frame(Err(error)) => break error,
                Next::Attempt(attempt) => {
                    if let Err(error) = link.on_attempt(*attempt).await {
                        break error;
                    }
                }
            },
            () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                if deadline.is_some() =>
            {
                if let Err(error) = link.on_timer().await {
                    break error;
                }
            }
            () = network.notified() => link.network_changed(),
            command = commands.recv() => {
                let Some((command, reply)) = command else {
                    // Every handle is gone: nobody can act or listen any more.
                    break ClientError::Shutdown;
                };
                // Answer only after the frames went out, so a send failure reaches the
                // caller and a caller that then closes cannot overtake its own frames.
                // (With `resume`, a frame sent while the socket is down is kept and goes
                // out after the resume: it counts as sent.)
                let answer = core.on_command(command, &mut out);
                let flushed = flush(Some(&mut link), &mut out, &events).await;
                if let Some(change) = link.take_notice() {
                    core.on_link(change, &mut out);
                }
                match (answer, flushed) {
                    (answer, Ok(())) => {
                        let _ = reply.send(answer);
                    }
                    (_, Err(error)) => {
                        let _ = reply.send(Err(error.clone()));
                        break error;
                    }
                }
                if let Err(error) = flush(Some(&mut link), &mut out, &events).await {
                    break error;
                }
                continue;
            }
            _ = &mut shutdown => break ClientError::Shutdown,
        }
        if let Some(change) = link.take_notice() {
            core.on_link(change, &mut out);
        }
        if let Err(error) = flush(Some(&mut link), &mut out, &events).await {
            break error;
        }
    };
    core.on_disconnect(&end_error, &mut out);
    let _ = flush(None, &mut out, &events).await;
    let _ = events.send(C::disconnected(end_error));
    link.close().await;
}

/// Carries out the outbox in order. After the first send error (or with no link) frames
/// are dropped but events are still delivered, so the app always learns how its chats
/// ended; the first error is returned.
async fn flush<E>(
    mut link: Option<&mut Link>,
    out: &mut Outbox<E>,
    events: &mpsc::UnboundedSender<E>,
) -> Result<(), ClientError> {
    let mut first_error = None;
    for item in out.drain() {
        let sent = match (item, link.as_deref_mut()) {
            (Output::Event(event), _) => {
                // The app dropped its receiver; keep the protocol going regardless.
                let _ = events.send(event);
                Ok(())
            }
            (_, None) => Ok(()),
            (Output::Control(frame), Some(link)) => link.send_control(&frame).await,
            (
                Output::Data {
                    chat,
                    noise_message,
                },
                Some(link),
            ) => link.send_data(chat, &noise_message).await,
        };
        if let Err(error) = sent {
            link = None;
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}
