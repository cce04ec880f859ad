//! What the `seek` and `peer` consoles share: reading a line and ending on disconnect.

use confidant_client::ClientError;

use crate::cli_error::CliError;

/// A typed line; end of input (or a read error) reads as `/quit`, to leave cleanly.
pub(crate) fn line_or_quit(line: std::io::Result<Option<String>>) -> String {
    match line {
        Ok(Some(line)) => line,
        Ok(None) | Err(_) => "/quit".to_owned(),
    }
}

/// How the console ends once the connection is gone: our own close is success.
pub(crate) fn disconnected(error: ClientError) -> Result<(), CliError> {
    match error {
        ClientError::Shutdown => Ok(()),
        other => Err(other.into()),
    }
}
