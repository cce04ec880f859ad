//! The canonical byte encoding shared by certificates and revocation lists.
//!
//! One encoding per value, no optional parts, no alignment: a decoder that accepts bytes and an
//! encoder that re-emits them produce the same bytes, so "what was signed" is never ambiguous.
//! Integers are big-endian; strings are a u16 length then UTF-8; lists are a u16 count then
//! items. Every length is bounded before anything is allocated.

/// Longest string field, in bytes.
pub const MAX_STRING_BYTES: usize = 128;

/// Most items in a list of strings (topics, languages).
pub const MAX_STRING_LIST_ITEMS: usize = 32;

/// Why bytes are not a canonical encoding of the expected structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended before the structure did.
    #[error("input truncated")]
    Truncated,
    /// Bytes remain after the structure and its signature.
    #[error("trailing bytes after the structure")]
    TrailingBytes,
    /// The leading version byte is not one we understand.
    #[error("unknown version")]
    UnknownVersion,
    /// A string is longer than its bound.
    #[error("string field too long")]
    StringTooLong,
    /// A list has more items than its bound.
    #[error("list too long")]
    ListTooLong,
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A field that must not be empty is.
    #[error("required field is empty")]
    EmptyField,
    /// A list that must be strictly ascending is not (unsorted or duplicated).
    #[error("list is not strictly ascending")]
    Unsorted,
    /// An issuer certificate's key id is not derived from its public key.
    #[error("key id does not match the public key")]
    KeyIdMismatch,
    /// A role, topic or language is not a protocol tag (`[a-z0-9-]{1,64}`), so the relay
    /// could never match a seeker's preference against it.
    #[error("role, topic or language is not a tag")]
    NotATag,
}

impl CodecError {
    /// Stable snake_case code, shared with every other implementation.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::TrailingBytes => "trailing_bytes",
            Self::UnknownVersion => "unknown_version",
            Self::StringTooLong => "string_too_long",
            Self::ListTooLong => "list_too_long",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::EmptyField => "empty_field",
            Self::Unsorted => "unsorted_list",
            Self::KeyIdMismatch => "key_id_mismatch",
            Self::NotATag => "not_a_tag",
        }
    }
}

/// Appends canonical fields to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    fn count(&mut self, n: usize, max: usize) -> Result<(), CodecError> {
        if n > max {
            return Err(CodecError::ListTooLong);
        }
        let n = u16::try_from(n).map_err(|_| CodecError::ListTooLong)?;
        self.buf.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    pub(crate) fn str(&mut self, v: &str, non_empty: bool) -> Result<(), CodecError> {
        if non_empty && v.is_empty() {
            return Err(CodecError::EmptyField);
        }
        if v.len() > MAX_STRING_BYTES {
            return Err(CodecError::StringTooLong);
        }
        let n = u16::try_from(v.len()).map_err(|_| CodecError::StringTooLong)?;
        self.buf.extend_from_slice(&n.to_be_bytes());
        self.buf.extend_from_slice(v.as_bytes());
        Ok(())
    }

    pub(crate) fn str_list(&mut self, items: &[String]) -> Result<(), CodecError> {
        self.count(items.len(), MAX_STRING_LIST_ITEMS)?;
        items.iter().try_for_each(|s| self.str(s, false))
    }

    pub(crate) fn u64_list(&mut self, items: &[u64], max: usize) -> Result<(), CodecError> {
        if !items.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return Err(CodecError::Unsorted);
        }
        self.count(items.len(), max)?;
        items.iter().for_each(|v| self.u64(*v));
        Ok(())
    }

    pub(crate) fn id_list(&mut self, items: &[[u8; 8]], max: usize) -> Result<(), CodecError> {
        if !items.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return Err(CodecError::Unsorted);
        }
        self.count(items.len(), max)?;
        items.iter().for_each(|v| self.bytes(v));
        Ok(())
    }
}

/// Reads canonical fields from untrusted bytes; every read is bounds-checked.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.rest.len() {
            return Err(CodecError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        self.take(N)?.try_into().map_err(|_| CodecError::Truncated)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(u8::from_be_bytes(self.array::<1>()?))
    }

    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array::<2>()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }

    pub(crate) fn version(&mut self, expected: u8) -> Result<(), CodecError> {
        if self.u8()? != expected {
            return Err(CodecError::UnknownVersion);
        }
        Ok(())
    }

    pub(crate) fn str(&mut self, non_empty: bool) -> Result<String, CodecError> {
        let n = usize::from(self.u16()?);
        if n > MAX_STRING_BYTES {
            return Err(CodecError::StringTooLong);
        }
        let bytes = self.take(n)?;
        let s = std::str::from_utf8(bytes).map_err(|_| CodecError::InvalidUtf8)?;
        if non_empty && s.is_empty() {
            return Err(CodecError::EmptyField);
        }
        Ok(s.to_owned())
    }

    fn count(&mut self, max: usize) -> Result<usize, CodecError> {
        let n = usize::from(self.u16()?);
        if n > max {
            return Err(CodecError::ListTooLong);
        }
        Ok(n)
    }

    pub(crate) fn str_list(&mut self) -> Result<Vec<String>, CodecError> {
        let n = self.count(MAX_STRING_LIST_ITEMS)?;
        (0..n).map(|_| self.str(false)).collect()
    }

    pub(crate) fn u64_list(&mut self, max: usize) -> Result<Vec<u64>, CodecError> {
        let n = self.count(max)?;
        let items = (0..n).map(|_| self.u64()).collect::<Result<Vec<_>, _>>()?;
        if !items.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return Err(CodecError::Unsorted);
        }
        Ok(items)
    }

    pub(crate) fn id_list(&mut self, max: usize) -> Result<Vec<[u8; 8]>, CodecError> {
        let n = self.count(max)?;
        let items = (0..n)
            .map(|_| self.array::<8>())
            .collect::<Result<Vec<_>, _>>()?;
        if !items.windows(2).all(|w| matches!(w, [a, b] if a < b)) {
            return Err(CodecError::Unsorted);
        }
        Ok(items)
    }

    pub(crate) fn finish(self) -> Result<(), CodecError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CodecError::TrailingBytes)
        }
    }
}

/// Checks a matching tag with the wire protocol's own rule ([`confidant_proto::is_tag`]),
/// so what a certificate says can be matched on.
pub(crate) fn check_tag(tag: &str) -> Result<(), CodecError> {
    if confidant_proto::is_tag(tag) {
        Ok(())
    } else {
        Err(CodecError::NotATag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_bounds() {
        let mut w = Writer::new();
        assert_eq!(
            w.str(&"x".repeat(129), false),
            Err(CodecError::StringTooLong)
        );
        assert_eq!(w.str("", true), Err(CodecError::EmptyField));
        let mut r = Reader::new(&[0, 129]);
        assert_eq!(r.str(false), Err(CodecError::StringTooLong));
        let mut r = Reader::new(&[0, 2, 0xff, 0xfe]);
        assert_eq!(r.str(false), Err(CodecError::InvalidUtf8));
        let mut r = Reader::new(&[0, 3, b'a']);
        assert_eq!(r.str(false), Err(CodecError::Truncated));
    }

    #[test]
    fn lists_must_ascend() {
        let mut w = Writer::new();
        assert_eq!(w.u64_list(&[2, 1], 10), Err(CodecError::Unsorted));
        assert_eq!(w.u64_list(&[1, 1], 10), Err(CodecError::Unsorted));
        let mut r = Reader::new(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(r.u64_list(10), Err(CodecError::Unsorted));
        let mut r = Reader::new(&[0, 11]);
        assert_eq!(r.u64_list(10), Err(CodecError::ListTooLong));
    }
}
