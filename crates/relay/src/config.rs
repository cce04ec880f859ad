//! The relay's configuration: what it listens on, which programs it hosts, and every limit.
//!
//! Defaults come from `confidant_proto::limits`, so the spec, the clients and the relay
//! quote one number; an operator tunes them here.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
#[cfg(feature = "fault-injection")]
use std::sync::Arc;
#[cfg(feature = "fault-injection")]
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use confidant_proto::limits;
use confidant_proto::{ProgramInfo, Resource};

use crate::clock::WallClock;

/// Everything [`crate::start`] needs.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Where to listen; tests use `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// The hosted programs; matching never crosses them.
    pub programs: Vec<ProgramConfig>,
    /// Limits and timeouts.
    pub limits: Limits,
    /// Wall clock for certificate and revocation validity.
    pub clock: WallClock,
    /// Serve TLS (`wss://`) with these PEM files; `None`: plain (behind a TLS proxy).
    pub tls: Option<TlsFiles>,
    /// Scale-out: join other nodes through this NATS broker; `None` (the default): a single
    /// node that needs nothing else.
    pub cluster: Option<ClusterConfig>,
    /// Browser origins (`https://app.example.org`) allowed to open WebSockets besides the
    /// relay's own pages; clients that send no `Origin` (CLI, apps) are always allowed.
    pub allowed_origins: Vec<String>,
}

/// A PEM certificate chain and its private key, re-read on [`crate::RelayHandle::reload_tls`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl RelayConfig {
    /// A config with default limits and the system clock.
    pub fn new(listen: SocketAddr, programs: Vec<ProgramConfig>) -> Self {
        Self {
            listen,
            programs,
            limits: Limits::default(),
            clock: WallClock::system(),
            tls: None,
            cluster: None,
            allowed_origins: Vec::new(),
        }
    }
}

/// One peer-support program hosted by the relay.
#[derive(Clone, Debug)]
pub struct ProgramConfig {
    /// Stable id, e.g. `resident-peer-support` (a protocol tag: a-z, 0-9, `-`).
    pub id: String,
    /// Human name.
    pub name: String,
    /// The program's root Ed25519 public key: every certificate must chain to it.
    pub root_public_key: [u8; 32],
    /// Topic tags offered (empty: seekers may name none).
    pub topics: Vec<String>,
    /// Language tags offered.
    pub languages: Vec<String>,
    /// Kinds of peer.
    pub peer_roles: Vec<String>,
    /// Shown on `no_peer` and in `welcome`: peer support never replaces professional help.
    pub resources: Vec<Resource>,
    /// A seeker waits at most this long before `no_peer{wait_limit}`.
    pub wait_limit: Duration,
    /// The initial signed revocation list (may be empty: then the first peer's list is used).
    pub revocation_list: Vec<u8>,
    /// Emergency help, the limits of confidentiality, departments and labels (sent with the
    /// `program-details` feature).
    pub details: ProgramDetails,
}

/// What a program tells seekers beyond the version-1 description (`proto/spec.md`, feature
/// `program-details`). Everything is optional; an empty value is left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgramDetails {
    /// Where emergency help is, e.g. 911 and the 9-8-8 Suicide Crisis Helpline.
    pub emergency: Vec<Resource>,
    /// The limits of confidentiality, by language tag.
    pub confidentiality: BTreeMap<String, String>,
    /// The departments certificates name; a certificate naming another is refused.
    pub departments: Vec<String>,
    /// Labels of the program's tags, by language tag, then tag.
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
}

impl ProgramConfig {
    /// The version-1 description sent in `welcome` and at `GET /v1/programs`.
    pub fn info(&self) -> ProgramInfo {
        ProgramInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            root_key: confidant_crypto::hex::encode(&self.root_public_key),
            topics: self.topics.clone(),
            languages: self.languages.clone(),
            peer_roles: self.peer_roles.clone(),
            resources: self.resources.clone(),
            wait_limit_secs: u32::try_from(self.wait_limit.as_secs()).unwrap_or(u32::MAX),
            emergency: None,
            confidentiality: None,
            departments: None,
            labels: None,
        }
    }

    /// The description for a connection or request that agreed on `program-details`: the
    /// version-1 one plus every detail the program configures (an empty list or map is
    /// sent as such, so the client knows the program has none).
    pub fn info_with_details(&self) -> ProgramInfo {
        let details = &self.details;
        ProgramInfo {
            emergency: Some(details.emergency.clone()),
            confidentiality: Some(details.confidentiality.clone()),
            departments: Some(details.departments.clone()),
            labels: Some(details.labels.clone()),
            ..self.info()
        }
    }

    /// Whether `department` (from a certificate) is one of the program's, when it lists any.
    pub fn lists_department(&self, department: &str) -> bool {
        self.details.departments.is_empty()
            || self.details.departments.iter().any(|d| d == department)
    }
}

/// Limits and timeouts. Every one bounds memory or time a client can make the relay spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections at once, all kinds; more get `too_many_connections`.
    pub max_connections: usize,
    /// WebSocket connections at once from one source address (0: no limit); more get HTTP
    /// 429. Counted under a keyed hash of the address, never the address itself.
    pub max_connections_per_source: usize,
    /// Seekers waiting per program; more get `no_peer{queue_full}`.
    pub max_queue: usize,
    /// Sustained frames per second per connection (token bucket refill rate).
    pub frames_per_second: u32,
    /// Bucket size: frames a connection may send in a burst.
    pub frame_burst: u32,
    /// Time to send `hello` (and, for a peer, to finish the possession proof).
    pub hello_timeout: Duration,
    /// Time a peer has to answer an offer.
    pub offer_timeout: Duration,
    /// Time after a match for each side to send its first data frame.
    pub chat_handshake_timeout: Duration,
    /// A chat with no data either way for this long ends.
    pub idle_timeout: Duration,
    /// Data frames queued towards one side of a chat before it ends as `slow_reader`.
    pub chat_buffer_frames: usize,
    /// How long a sender waits for room in a full partner buffer before the chat ends as
    /// `slow_reader`: absorbs scheduling jitter (a burst read before the partner's writer
    /// ran) without letting a stuck reader hold memory.
    pub slow_reader_grace: Duration,
    /// Bound on waiting for tasks to finish at shutdown, after the deadline.
    pub shutdown_grace: Duration,
    /// WebSocket read buffer per connection, in bytes ([`READ_BUFFER_RANGE`]). It is resident
    /// for every connection (tungstenite zero-fills it on each read), and a data frame is
    /// read at most this much per call: smaller saves idle memory, larger saves CPU on
    /// 16 KiB frames (docs/performance.md has the measured trade). Applies to new
    /// connections.
    pub read_buffer_bytes: usize,
    /// Feature `resume`: how long a connection whose socket was lost is kept for a new
    /// socket to take it over (`proto/spec.md`, "Resume"). Zero turns the feature off: the
    /// relay then never agrees on it.
    pub resume_grace: Duration,
    /// Feature `resume`: without any message from a resumable connection for this long, the
    /// relay pings it …
    pub keepalive_idle: Duration,
    /// … and treats the socket as lost if nothing arrives this long after the ping.
    pub keepalive_deadline: Duration,
    /// When new connections must show a proof of work (`docs/admission.md`).
    pub admission: AdmissionMode,
    /// `auto`: the gate closes while this many connections are open (or more).
    pub admission_open_connections: usize,
    /// `auto`: the gate closes while this many new connections arrive in one second.
    pub admission_new_per_second: u32,
    /// Leading zero bits a proof must have (each bit doubles the expected work).
    pub admission_difficulty: u8,
    /// How long a challenge from `GET /v1/admission` stays valid.
    pub admission_validity: Duration,
}

/// When the relay asks new connections for a proof of work (`docs/admission.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdmissionMode {
    /// Never: every connection is admitted as in version 1.
    Off,
    /// Under load only: while the open connections or the new connections per second reach
    /// their thresholds, and for [`ADMISSION_HOLD`] after.
    Auto,
    /// Always (an operator under attack, and tests).
    Always,
}

/// How long the `auto` gate stays closed after the load that closed it.
pub const ADMISSION_HOLD: Duration = Duration::from_secs(10);

/// The read buffer sizes a relay accepts: below 1 KiB every control frame takes several
/// reads; above 64 KiB nothing is gained (a data frame is at most 16,388 bytes).
pub const READ_BUFFER_RANGE: std::ops::RangeInclusive<usize> = 1024..=64 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_source: 32,
            max_queue: 1_000,
            frames_per_second: 50,
            frame_burst: 100,
            hello_timeout: limits::DEFAULT_HELLO_TIMEOUT,
            offer_timeout: limits::DEFAULT_OFFER_TIMEOUT,
            chat_handshake_timeout: limits::DEFAULT_CHAT_HANDSHAKE_TIMEOUT,
            idle_timeout: limits::DEFAULT_CHAT_IDLE_TIMEOUT,
            chat_buffer_frames: limits::DEFAULT_CHAT_BUFFER_FRAMES,
            slow_reader_grace: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(2),
            // Chats are people typing: most connections wait most of the time (queued seekers,
            // quiet chats), so resident memory per connection matters more than the CPU of
            // reading a rare 16 KiB record in eight pieces (docs/performance.md, "Targets").
            read_buffer_bytes: 2 * 1024,
            resume_grace: limits::DEFAULT_RESUME_GRACE,
            keepalive_idle: limits::KEEPALIVE_IDLE,
            keepalive_deadline: limits::KEEPALIVE_DEADLINE,
            admission: AdmissionMode::Auto,
            admission_open_connections: 2_000,
            admission_new_per_second: 100,
            admission_difficulty: 12,
            admission_validity: Duration::from_secs(60),
        }
    }
}

// ---- the cluster (`crate::cluster`, `docs/scale-out.md`) ----
//
// Here, not in `cluster/`, so that the configuration names no task: every arrow between
// the relay's modules points one way (`scripts/module-graph`).

/// How a node joins the others. `nats_url` is the one setting that turns scale-out on.
#[derive(Clone)]
pub struct ClusterConfig {
    /// e.g. `nats://nats:4222` or `tls://nats:4222`.
    pub nats_url: String,
    /// User and password for the broker.
    pub user_password: Option<(String, String)>,
    /// Token for the broker.
    pub token: Option<String>,
    /// CA to trust for the broker's certificate (implies TLS).
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key for mutual TLS with the broker.
    pub tls_client: Option<(PathBuf, PathBuf)>,
    /// Refuse a broker connection without TLS.
    pub require_tls: bool,
    /// Subject prefix, so several clusters may share one broker.
    pub subject_prefix: String,
    /// How often presence (the heartbeat) is sent.
    pub heartbeat: Duration,
    /// A node not heard from for this long is gone: its peers leave, its chats end.
    pub node_ttl: Duration,
    /// How long a capacity reservation may take before it counts as refused.
    pub request_timeout: Duration,
    /// Faults the integration tests inject (feature `fault-injection`, enabled only by the
    /// test package): not part of the API.
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub faults: FaultInjection,
}

impl std::fmt::Debug for ClusterConfig {
    // Never print the broker's password or token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("nats_url", &self.nats_url)
            .field("user", &self.user_password.as_ref().map(|(user, _)| user))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls_ca", &self.tls_ca)
            .field("tls_client", &self.tls_client)
            .field("require_tls", &self.require_tls)
            .field("subject_prefix", &self.subject_prefix)
            .field("heartbeat", &self.heartbeat)
            .field("node_ttl", &self.node_ttl)
            .finish_non_exhaustive()
    }
}

impl ClusterConfig {
    /// Defaults: 1 s heartbeat, 3 s TTL, 2 s reservation timeout, prefix `confidant`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        Self {
            nats_url: nats_url.into(),
            user_password: None,
            token: None,
            tls_ca: None,
            tls_client: None,
            require_tls: false,
            subject_prefix: "confidant".to_owned(),
            heartbeat: Duration::from_secs(1),
            node_ttl: Duration::from_secs(3),
            request_timeout: Duration::from_secs(2),
            #[cfg(feature = "fault-injection")]
            faults: FaultInjection::default(),
        }
    }
}

/// Faults the integration tests inject into a node (`tests/tests/cluster_*.rs`), for races
/// too narrow to hit otherwise. Behind the `fault-injection` feature, which only the test
/// package enables; the seeded simulation (`cluster/simulation/`) needs none of them.
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct FaultInjection {
    /// The peer's node waits this long before it asks its hub to grant a reservation (a
    /// busy hub or a slow broker path).
    pub reserve_delay: Option<Duration>,
    /// While set, this node sends no presence (a node whose task is stalled, so the others
    /// let it go at the TTL).
    pub mute_presence: Option<Arc<AtomicBool>>,
    /// The peer's node waits this long, after its hub granted a reservation, before it
    /// answers it and before it tells the seeker's node of the match (a grant that crosses
    /// the seeker's node giving up).
    pub matched_delay: Option<Duration>,
    /// The seeker's node waits this long, after the peer's node said `matched`, before its
    /// hub accepts on the remote peer's behalf (a window in which the seeker can leave).
    pub accept_delay: Option<Duration>,
}
