//! Optional members are left out, never sent as `null` (`proto/spec.md`, encoding rules).
//! serde alone reads `null` as an absent `Option`; this reader refuses it, as the schemas do.

use serde::{Deserialize, Deserializer};

/// Reads a present optional member: its value, never `null`. Use with `#[serde(default)]`
/// so an absent member is still `None`.
pub(crate) fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
