//! Every way a command can fail, with a message that says which file or argument and what
//! to do about it.

use std::path::{Path, PathBuf};

use confidant_client::ClientError;
use confidant_client::credential_files::FileFormatError;
use confidant_crypto::{CodecError, CredentialError, KeyError};

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read or written.
    #[error("{path}: {action} failed: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Reading, writing, …
        action: &'static str,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// Refusing to overwrite an existing file.
    #[error("{0}: already exists; refusing to overwrite (move it away first)")]
    AlreadyExists(PathBuf),
    /// A secret key file readable by others.
    #[error("{path}: permissions {mode:o} are too open for a secret key; run `chmod 600` on it")]
    BadPermissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// A key file that is not the expected kind or not well-formed.
    #[error("{path}: not a valid {expected}: {error}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What it should have been.
        expected: &'static str,
        /// Why not.
        error: KeyError,
    },
    /// A credential, request, certificate or list file that is not well-formed.
    #[error("{path}: {error}")]
    FileFormat {
        /// The file.
        path: PathBuf,
        /// Why not.
        error: FileFormatError,
    },
    /// A certificate or list that does not verify.
    #[error("{what}: {error} ({code})", code = error.code())]
    Credential {
        /// Which object.
        what: String,
        /// Why.
        error: CredentialError,
    },
    /// A field that cannot be encoded (too long, too many tags).
    #[error("{what}: {error}")]
    Codec {
        /// Which object.
        what: &'static str,
        /// Why.
        error: CodecError,
    },
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
    /// The program revoked this supporter's credential: at login, or while online.
    #[error(
        "your credential has been revoked by your program (credential_revoked): the relay will \
         not take you online with it again; ask your program administrator for a new credential"
    )]
    Revoked,
    /// The SDK failed (connection, relay refusal, …).
    #[error("{0}")]
    Client(ClientError),
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        match error.relay_code() {
            Some(confidant_proto::ErrorCode::CredentialRevoked) => Self::Revoked,
            _ => Self::Client(error),
        }
    }
}

impl CliError {
    pub(crate) fn io(path: &Path, action: &'static str, reason: std::io::Error) -> Self {
        if reason.kind() == std::io::ErrorKind::AlreadyExists {
            return Self::AlreadyExists(path.to_owned());
        }
        Self::Io {
            path: path.to_owned(),
            action,
            reason,
        }
    }
}
