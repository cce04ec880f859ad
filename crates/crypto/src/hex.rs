//! Lower-case hex for public values (key ids, public keys, root keys in settings and on the
//! command line). The one hex codec of the workspace: every crate that shows or reads a
//! key in hex uses this module.

/// Encodes `bytes` as lower-case hex.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(&d) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(d));
            }
        }
    }
    out
}

/// Decodes hex of any even length (either case; surrounding white space ignored).
/// `None` on an odd length or a character that is not a hex digit.
#[must_use]
pub fn decode_vec(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?))
        .collect()
}

/// Decodes exactly `N` bytes of hex (either case; surrounding white space ignored).
#[must_use]
pub fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    decode_vec(text)?.try_into().ok()
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let bytes = [0x00, 0xab, 0xff, 0x10];
        assert_eq!(encode(&bytes), "00abff10");
        assert_eq!(decode::<4>(" 00ABff10\n"), Some(bytes));
        assert_eq!(decode_vec(""), Some(Vec::new()));
        assert_eq!(decode::<4>("00abff1"), None, "odd length");
        assert_eq!(decode::<4>("00abff1g"), None, "not a digit");
        assert_eq!(decode::<3>("00abff10"), None, "wrong length");
        assert_eq!(decode_vec("+1"), None, "a sign is not a digit");
        assert_eq!(decode_vec("é0"), None, "not ASCII");
    }
}
