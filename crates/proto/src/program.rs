//! What a relay tells clients about a program: its public description and its resources.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::optional::non_null;

/// A resource card the operator configures: counselling service, crisis line, contact.
/// Shown to a seeker on `no_peer`, and shareable by a peer inside the encrypted chat.
///
/// Read leniently (unknown members skipped): `RelayFrame::from_json` is where version 1's
/// strictness is checked, for every relay type at once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// What it is, e.g. "Faculty Wellness Program — counselling".
    pub title: String,
    /// A web address.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::optional::non_null"
    )]
    pub url: Option<String>,
    /// A telephone number as it should be dialled.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::optional::non_null"
    )]
    pub phone: Option<String>,
    /// An e-mail address.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::optional::non_null"
    )]
    pub email: Option<String>,
}

/// A program's public description, sent in `welcome` and served at `GET /v1/programs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramInfo {
    /// Stable id, e.g. `resident-peer-support`.
    pub id: String,
    /// Human name, e.g. "Resident Peer Support Program".
    pub name: String,
    /// The program's root public key (Ed25519, hex) that certificates must chain to.
    /// Clients should pin it themselves; this copy lets a user compare.
    pub root_key: String,
    /// Topic tags the program offers.
    pub topics: Vec<String>,
    /// Languages the program offers.
    pub languages: Vec<String>,
    /// Kinds of peer the program has.
    pub peer_roles: Vec<String>,
    /// Where to turn when no peer is available, or for professional help.
    pub resources: Vec<Resource>,
    /// How long a seeker waits at most before `no_peer`, in seconds.
    pub wait_limit_secs: u32,
    /// Where emergency help is (feature `program-details`): shown on every screen of the
    /// seeker flow. Empty: the client says "call your local emergency number".
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub emergency: Option<Vec<Resource>>,
    /// The program's statement of the limits of confidentiality, by language tag (feature
    /// `program-details`): shown before a chat starts and reachable during it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub confidentiality: Option<BTreeMap<String, String>>,
    /// The departments certificates of this program name (feature `program-details`): a
    /// seeker picks the one to avoid from this list; the check stays in the client.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub departments: Option<Vec<String>>,
    /// Human labels for the program's tags, by language tag, then tag (feature
    /// `program-details`), e.g. `labels.fr["adverse-event"] = "Événement indésirable"`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_null"
    )]
    pub labels: Option<BTreeMap<String, BTreeMap<String, String>>>,
}
