//! Every limit of the protocol as a named constant, so the relay, the clients and the spec
//! quote one number. Timeouts that an operator may tune live in the relay's configuration;
//! the values here are their defaults.

use std::time::Duration;

/// Version carried in `hello` and `welcome`, and in the WebSocket path (`/v1/ws`).
pub const PROTOCOL_VERSION: u8 = 1;

/// The WebSocket path clients connect to.
pub const WEBSOCKET_PATH: &str = "/v1/ws";

/// Plaintext record sizes inside the encryption: the relay only ever sees these sizes
/// (plus the 16-byte AEAD tag and the data-frame header).
pub const RECORD_BUCKETS: [usize; 4] = [256, 1024, 4096, 16384];

/// The largest plaintext record.
pub const MAX_RECORD: usize = 16384;

/// ChaCha20-Poly1305 tag length appended to every Noise transport message.
pub const AEAD_TAG_LEN: usize = 16;

/// The largest Noise message a data frame may carry (largest bucket + tag).
pub const MAX_NOISE_MESSAGE: usize = MAX_RECORD + AEAD_TAG_LEN;

/// Bytes of the binary data-frame header (the per-connection chat number, u32 big-endian).
pub const DATA_HEADER_LEN: usize = 4;

/// The largest binary WebSocket message the relay accepts.
pub const MAX_DATA_FRAME: usize = DATA_HEADER_LEN + MAX_NOISE_MESSAGE;

/// The largest text (control) frame. Big enough for a `present` or `matched` frame with
/// both certificates and the revocation list at their maxima in base64 (16,388 characters);
/// everything else is far smaller.
pub const MAX_CONTROL_FRAME: usize = 24 * 1024;

/// The largest revocation list (encoded bytes) a relay accepts or forwards.
pub const MAX_REVOCATION_LIST: usize = 8 * 1024;

/// The largest certificate (encoded bytes, either level).
pub const MAX_CERTIFICATE: usize = 2 * 1024;

/// The most chats a peer may hold at once; an `availability` above it is refused.
pub const MAX_CAPACITY: u16 = 16;

/// The most topic or language tags in one frame.
pub const MAX_TAGS: usize = 16;

/// The longest tag (topic, language, role, program id), in bytes.
pub const MAX_TAG_LEN: usize = 64;

/// Most feature names one `hello` may list (`features` and `chat_features` each).
pub const MAX_FEATURES: usize = 32;

/// Default: time a new connection has to send `hello` (and a peer to finish its proof).
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Default: time a peer has to answer an offer before it goes to the next peer.
pub const DEFAULT_OFFER_TIMEOUT: Duration = Duration::from_secs(30);

/// Default: time after `matched` for the Noise handshake (msg1 and msg2) to pass.
pub const DEFAULT_CHAT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default: a chat with no data frame in either direction for this long ends.
pub const DEFAULT_CHAT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Default: a seeker waits at most this long before `no_peer`.
pub const DEFAULT_WAIT_LIMIT: Duration = Duration::from_secs(10 * 60);

/// Default: data frames buffered towards one side of a chat before it ends as `slow_reader`.
pub const DEFAULT_CHAT_BUFFER_FRAMES: usize = 64;

/// Feature `resume`: the length of a resume secret, in bytes.
pub const RESUME_SECRET_LEN: usize = 32;

/// Feature `resume`: default grace window — how long the relay keeps a connection whose
/// socket was lost, waiting for `resume`.
pub const DEFAULT_RESUME_GRACE: Duration = Duration::from_secs(60);

/// Feature `resume`: each side acknowledges after this many counted messages …
pub const ACK_EVERY_MESSAGES: u64 = 16;

/// … or this long after the first message not yet acknowledged, whichever comes first.
pub const ACK_DELAY: Duration = Duration::from_millis(250);

/// Feature `resume`: after this long without any message from the other side, send a ping …
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);

/// … and treat the socket as dead if nothing at all arrives this long after the ping.
pub const KEEPALIVE_DEADLINE: Duration = Duration::from_secs(10);

/// Feature `urgency`: an urgent seeker is served as if it had sought this much earlier. The
/// bound on what urgency costs others: a seeker who has waited this long is never overtaken
/// by an urgent seeker.
pub const URGENT_HEAD_START: Duration = Duration::from_secs(5 * 60);
