//! Why bytes from the network could not become a frame. Typed, never a panic.

use thiserror::Error;

use crate::error_code::ErrorCode;

/// A frame that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Above the limit for its kind.
    #[error("frame of {len} bytes is above the limit of {max}")]
    TooLarge {
        /// Received length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Shorter than its header, or without a payload.
    #[error("frame is truncated")]
    Truncated,
    /// Not JSON, or not an object.
    #[error("not a JSON object")]
    NotJson,
    /// A `type` the protocol does not define.
    #[error("unknown frame type")]
    UnknownType {
        /// The frame said `"critical": true`: its receiver must understand it.
        critical: bool,
    },
    /// A field the frame does not have, a missing field, or a field of the wrong type.
    #[error("frame does not match its schema: {0}")]
    Schema(String),
    /// Well-formed but outside the limits.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
}

impl DecodeError {
    /// Classifies a serde_json error without echoing input (the message may quote a
    /// field name, never a value, since serde_json only reports names and types).
    pub(crate) fn from_json_error(error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => Self::NotJson,
            Category::Data => {
                // An unknown frame type is recognised by the caller (`features::unknown_type`),
                // which knows the frame's types; here it is one more schema mismatch. Keep
                // only the part before serde's position suffix, and never echo a quoted value
                // back (it could be anything the client sent).
                let text = error.to_string();
                let schema = text.split(" at line").next().unwrap_or_default();
                Self::Schema(redact_quoted(schema))
            }
        }
    }

    /// The catalogue entry this failure answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLarge { .. } => ErrorCode::FrameTooLarge,
            Self::Truncated | Self::NotJson | Self::UnknownType { .. } | Self::Schema(_) => {
                ErrorCode::MalformedFrame
            }
            Self::Invalid { .. } => ErrorCode::InvalidField,
        }
    }
}

/// Replaces every `quoted` or "quoted" span with `…`, keeping serde's sentence shape.
fn redact_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(160));
    let mut inside: Option<char> = None;
    for c in text.chars().take(160) {
        match (inside, c) {
            (None, '`' | '"') => {
                inside = Some(c);
                out.push('…');
            }
            (Some(open), c) if c == open || (open == '`' && c == '\'') => inside = None,
            (Some(_), _) => {}
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_errors_do_not_echo_values() {
        let error = serde_json::from_str::<crate::ClientFrame>(
            r#"{"type":"hello","v":1,"role":"secret-canary","program":"x"}"#,
        )
        .map(|_| ())
        .map_err(|e| DecodeError::from_json_error(&e));
        let Err(error) = error else {
            panic!("an unknown role must not parse")
        };
        assert!(!error.to_string().contains("secret-canary"), "{error}");
    }
}
