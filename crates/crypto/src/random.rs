//! The one place randomness enters the crate.
//!
//! Every key, ephemeral and challenge comes through here, so tests can see at a glance that
//! deterministic variants (fixed ephemerals, fixed seeds) are the only other source.

/// Fills `dest` from the operating system's CSPRNG.
pub(crate) fn fill(dest: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(dest)
}
