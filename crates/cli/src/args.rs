//! The command-line grammar (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Confidant: end-to-end encrypted peer support for clinicians.
#[derive(Debug, Parser)]
#[command(name = "confidant", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask for a peer supporter and chat in the terminal (anonymous).
    Seek(SeekArgs),
    /// Serve as a peer supporter: go available and run several chats at once.
    Peer(PeerArgs),
    /// Create a supporter key pair; prints the public key to send to the program.
    Keygen(KeygenArgs),
    /// Program administration: root key, issuing keys, credentials, revocation.
    Admin {
        /// The admin command.
        #[command(subcommand)]
        command: AdminCommand,
    },
}

/// Where `seek` and `peer` connect.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// The relay's WebSocket URL: `wss://host/v1/ws` (TLS), or `ws://` for a relay on
    /// this machine.
    #[arg(
        long,
        default_value = "ws://127.0.0.1:8080/v1/ws",
        env = "CONFIDANT_RELAY"
    )]
    pub relay: String,
    /// For `wss://`: trust only the CA certificate(s) in this PEM file (a program's own
    /// PKI) instead of the public web roots compiled in. The relay must present a leaf
    /// certificate issued by that CA (basicConstraints CA:FALSE) for the host in --relay:
    /// a CA certificate served as the relay's own is refused (docs/operators.md#tls).
    #[arg(long, env = "CONFIDANT_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// The program id, e.g. resident-peer-support.
    #[arg(long)]
    pub program: String,
}

/// `confidant seek`.
#[derive(Debug, Args)]
pub struct SeekArgs {
    /// The relay and the program.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The program's root public key: 64 hex digits, or a file holding them (or a
    /// `root.pub` file from `confidant admin init`).
    #[arg(long, conflicts_with = "trust_relay_root_key")]
    pub root_key: Option<String>,
    /// DEMO ONLY: take the root key from the relay itself. This trusts the relay, which is
    /// exactly what Confidant is built not to do.
    #[arg(long)]
    pub trust_relay_root_key: bool,
    /// A topic tag, e.g. burnout.
    #[arg(long)]
    pub topic: Option<String>,
    /// A language tag, e.g. en.
    #[arg(long)]
    pub language: Option<String>,
    /// The kind of peer, e.g. resident.
    #[arg(long)]
    pub peer_role: Option<String>,
    /// Skip (locally, without telling the relay) any peer from this department.
    #[arg(long)]
    pub avoid_department: Option<String>,
    /// "I need to talk soon": served ahead of anyone who has waited less than five minutes
    /// (self-declared; the peer's offer says so).
    #[arg(long)]
    pub urgent: bool,
}

/// `confidant peer`.
#[derive(Debug, Args)]
pub struct PeerArgs {
    /// The relay and the program.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The supporter key file from `confidant keygen`.
    #[arg(long)]
    pub key: PathBuf,
    /// The credential file from `confidant admin sign`.
    #[arg(long)]
    pub credential: PathBuf,
    /// The program's current revocation list.
    #[arg(long)]
    pub revocation: PathBuf,
    /// Chats at once.
    #[arg(long, default_value_t = 1)]
    pub capacity: u16,
    /// Topics offered, comma-separated (default: any).
    #[arg(long, value_delimiter = ',')]
    pub topics: Vec<String>,
    /// Languages offered, comma-separated (default: the certificate's).
    #[arg(long, value_delimiter = ',')]
    pub languages: Vec<String>,
    /// Accept every offer without asking.
    #[arg(long)]
    pub auto_accept: bool,
}

/// `confidant keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (created with mode 0600; never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Where to write the key request for the administrator (default: beside `--out`,
    /// with the extension `.request`).
    #[arg(long)]
    pub request_out: Option<PathBuf>,
    /// Make an X25519 key only, without the ML-KEM-768 key of the hybrid post-quantum
    /// handshake: for a program whose seekers still use clients from before ML-KEM (they
    /// cannot verify a certificate that carries one).
    #[arg(long)]
    pub x25519_only: bool,
}

/// `confidant admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create the program's root key (keep it offline). Writes the secret key to `--out`
    /// (0600) and the public key beside it, the extension `.key` replaced by `.pub`
    /// (`--out root.key` writes `root.pub`; `--out root` writes `root.pub` too), and
    /// prints the public key in hex for relay and client configuration. Give the relay and
    /// the clients the `.pub` file (or the hex), never the secret key.
    Init {
        /// Where to write the root secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Create an issuing key and its certificate signed by the root.
    Issue {
        /// The root secret key.
        #[arg(long)]
        root: PathBuf,
        /// The program id.
        #[arg(long)]
        program: String,
        /// Validity in days.
        #[arg(long, default_value_t = 90)]
        days: u64,
        /// Where to write the issuing secret key (0600). The certificate goes beside it
        /// as `<out>.cert` unless `--cert-out` says otherwise.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the issuer certificate.
        #[arg(long)]
        cert_out: Option<PathBuf>,
    },
    /// Sign a supporter's key request into a credential.
    Sign(SignArgs),
    /// Revoke serials and/or issuing keys by writing the next signed revocation list.
    /// There is no separate publish step: this writes the signed list that peers present
    /// and the relay reloads. With no `--serial`/`--issuer-key-id` it creates the first
    /// (empty) list or refreshes `next-update`.
    Revoke {
        /// The root secret key.
        #[arg(long)]
        root: PathBuf,
        /// The program id.
        #[arg(long)]
        program: String,
        /// A supporter serial to revoke (repeatable).
        #[arg(long)]
        serial: Vec<u64>,
        /// An issuing key id (16 hex digits) to revoke (repeatable).
        #[arg(long)]
        issuer_key_id: Vec<String>,
        /// The list file: read if it exists, then replaced with the next sequence.
        #[arg(long)]
        list: PathBuf,
        /// Days until the list is stale (its next-update).
        #[arg(long, default_value_t = 7)]
        days: u64,
    },
}

/// `confidant admin sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The issuing secret key.
    #[arg(long)]
    pub issuer: PathBuf,
    /// The issuer certificate (default: beside `--issuer`, extension `.cert`).
    #[arg(long)]
    pub issuer_cert: Option<PathBuf>,
    /// The supporter's public key: the key request file `confidant keygen` wrote
    /// (`--out supporter.key` writes `supporter.request`), 64 hex digits, or base64.
    #[arg(long)]
    pub request: String,
    /// Display name shown to seekers.
    #[arg(long)]
    pub name: String,
    /// Role tag, e.g. resident.
    #[arg(long)]
    pub role: String,
    /// Department (seekers may ask to avoid their own). With `--programs`, it must be one
    /// of the program's departments, spelled as the program lists it.
    #[arg(long)]
    pub department: String,
    /// The relay's program list, saved from `GET /v1/programs?features=program-details`:
    /// the department is checked against the program's `departments` (the relay refuses a
    /// certificate naming another at login, so signing one would only make a credential
    /// that never works).
    #[arg(long)]
    pub programs: Option<PathBuf>,
    /// Topic tags, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub topics: Vec<String>,
    /// Language tags, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "en")]
    pub languages: Vec<String>,
    /// Validity in days (capped at the issuer certificate's expiry).
    #[arg(long, default_value_t = 30)]
    pub days: u64,
    /// Program-wide unique serial number (revocation names it).
    #[arg(long)]
    pub serial: u64,
    /// Where to write the credential file.
    #[arg(long)]
    pub out: PathBuf,
}
