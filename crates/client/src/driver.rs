//! The part of the async drivers that seeker and peer share: carrying out an outbox.

use tokio::sync::mpsc;

use crate::connection::Connection;
use crate::error::ClientError;
use crate::outbox::{Outbox, Output};

/// Carries out the outbox in order. After the first send error (or with no connection)
/// frames are dropped but events are still delivered, so the app always learns how its
/// chats ended; the first error is returned.
pub(crate) async fn flush<E>(
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
