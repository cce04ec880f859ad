//! Settings: one TOML file (`--config`), then `CONFIDANT_…` environment variables, then
//! flags — later wins. Everything is checked before the relay listens, and a bad value is
//! reported once, naming its key (`programs[0].root_key: not 64 hex characters`).
//!
//! Every key is documented with its default in `docs/configuration.md`; keep them in step.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use confidant_client::credential_files::{REVOCATION_LIST_LABEL, decode_single};
use confidant_proto::Resource;
use confidant_relay::{Limits, ProgramConfig, ProgramDetails, TlsFiles};
use serde::Deserialize;

use crate::args::{Args, LogFormat};

/// Default public address.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default admin address.
pub(crate) const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Default time clients get to finish at shutdown.
pub(crate) const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// Default interval between checks of the files for changes.
pub(crate) const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// A bad setting: the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub(crate) struct SettingError {
    pub(crate) key: String,
    pub(crate) message: String,
}

fn bad(key: impl Into<String>, message: impl Into<String>) -> SettingError {
    SettingError {
        key: key.into(),
        message: message.into(),
    }
}

/// The file, as written. Unknown keys are errors (a typo must not silently do nothing).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    listen: Option<String>,
    admin_listen: Option<String>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    shutdown_deadline_secs: Option<u64>,
    reload_interval_secs: Option<u64>,
    lock_memory: Option<bool>,
    tls: Option<FileTls>,
    /// Browser origins allowed to open WebSockets besides the relay's own pages.
    #[serde(default)]
    allowed_origins: Vec<String>,
    cluster: Option<FileCluster>,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    programs: Vec<FileProgram>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// `[cluster]`: scale-out through a NATS broker (docs/scale-out.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCluster {
    nats_url: Option<String>,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    require_tls: Option<bool>,
    subject_prefix: Option<String>,
    heartbeat_ms: Option<u64>,
    node_ttl_ms: Option<u64>,
}

fn cluster(
    url: Option<String>,
    file: Option<FileCluster>,
) -> Result<Option<confidant_relay::ClusterConfig>, SettingError> {
    let file = file.unwrap_or_default();
    let Some(url) = url.or(file.nats_url) else {
        return Ok(None);
    };
    let mut config = confidant_relay::ClusterConfig::new(url);
    config.user_password = match (file.user, file.password) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        _ => return Err(bad("cluster.password", "user and password go together")),
    };
    config.token = file.token;
    config.tls_ca = file.tls_ca;
    config.tls_client = match (file.tls_cert, file.tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(bad("cluster.tls_key", "tls_cert and tls_key go together")),
    };
    config.require_tls = file.require_tls.unwrap_or(false);
    if let Some(prefix) = file.subject_prefix {
        let valid = !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(bad(
                "cluster.subject_prefix",
                "use a-z, A-Z, 0-9, - and _ only",
            ));
        }
        config.subject_prefix = prefix;
    }
    if let Some(ms) = file.heartbeat_ms {
        if !(50..=60_000).contains(&ms) {
            return Err(bad("cluster.heartbeat_ms", "must be 50..=60000"));
        }
        config.heartbeat = Duration::from_millis(ms);
    }
    config.node_ttl = match file.node_ttl_ms {
        Some(ms) => Duration::from_millis(ms),
        None => config.heartbeat * 3,
    };
    if config.node_ttl < config.heartbeat * 2 {
        return Err(bad(
            "cluster.node_ttl_ms",
            "must be at least twice heartbeat_ms",
        ));
    }
    Ok(Some(config))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileLimits {
    max_connections: Option<usize>,
    max_connections_per_source: Option<usize>,
    max_queue: Option<usize>,
    frames_per_second: Option<u32>,
    frame_burst: Option<u32>,
    hello_timeout_secs: Option<u64>,
    offer_timeout_secs: Option<u64>,
    chat_handshake_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    chat_buffer_frames: Option<usize>,
    slow_reader_grace_ms: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    read_buffer_bytes: Option<usize>,
    resume_grace_secs: Option<u64>,
    admission: Option<crate::args::Admission>,
    admission_open_connections: Option<usize>,
    admission_new_per_second: Option<u32>,
    admission_difficulty: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProgram {
    id: String,
    name: String,
    root_key: String,
    revocation_list: Option<PathBuf>,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    peer_roles: Vec<String>,
    #[serde(default)]
    resources: Vec<FileResource>,
    wait_limit_secs: Option<u64>,
    /// Feature `program-details` (`proto/spec.md`): emergency help, the limits of
    /// confidentiality by language, the departments certificates name, labels of the tags.
    #[serde(default)]
    emergency: Vec<FileResource>,
    #[serde(default)]
    confidentiality: BTreeMap<String, String>,
    #[serde(default)]
    departments: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileResource {
    title: String,
    url: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

/// Everything the binary runs with, checked.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) listen: SocketAddr,
    pub(crate) admin_listen: SocketAddr,
    pub(crate) log_format: LogFormat,
    /// `None`: `RUST_LOG` or the default decides.
    pub(crate) log_level: Option<String>,
    pub(crate) shutdown_deadline: Duration,
    /// `Duration::ZERO`: no polling (SIGHUP only).
    pub(crate) reload_interval: Duration,
    pub(crate) lock_memory: bool,
    pub(crate) tls: Option<TlsFiles>,
    /// Scale-out; `None`: a single node.
    pub(crate) cluster: Option<confidant_relay::ClusterConfig>,
    /// Browser origins allowed to open WebSockets besides the relay's own pages.
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) limits: Limits,
    pub(crate) programs: Vec<ProgramConfig>,
    /// Files whose change triggers a reload (the config file, lists, TLS files).
    pub(crate) watched: Vec<PathBuf>,
}

/// Reads and parses the config file (no file: all defaults).
pub(crate) fn read_file(path: Option<&Path>) -> Result<FileConfig, SettingError> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad("config", format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        bad(
            "config",
            format!("{}: {}", path.display(), e.to_string().trim_end()),
        )
    })
}

/// Merges file, environment and flags (clap already put environment under flags) and
/// checks every value. `dev`: programs come from `--dev`, so none are required here.
pub(crate) fn resolve(
    args: &Args,
    file: FileConfig,
    now_unix: u64,
) -> Result<Settings, SettingError> {
    let listen = address(
        "listen",
        args.listen.as_deref(),
        file.listen.as_deref(),
        DEFAULT_LISTEN,
    )?;
    let admin_listen = address(
        "admin_listen",
        args.admin_listen.as_deref(),
        file.admin_listen.as_deref(),
        DEFAULT_ADMIN_LISTEN,
    )?;
    let log_format = args
        .log_format
        .or(file.log_format)
        .unwrap_or(LogFormat::Text);
    let log_level = args.log_level.clone().or(file.log_level);
    if let Some(level) = &log_level
        && !["trace", "debug", "info", "warn", "error", "off"].contains(&level.as_str())
    {
        return Err(bad(
            "log_level",
            "expected one of trace, debug, info, warn, error, off",
        ));
    }
    let shutdown_deadline = args
        .shutdown_deadline
        .or(file.shutdown_deadline_secs)
        .map_or(DEFAULT_SHUTDOWN_DEADLINE, Duration::from_secs);
    let reload_interval = args
        .reload_interval
        .or(file.reload_interval_secs)
        .map_or(DEFAULT_RELOAD_INTERVAL, Duration::from_secs);
    let lock_memory = args.lock_memory.or(file.lock_memory).unwrap_or(true);
    let (file_cert, file_key) = match file.tls {
        Some(tls) => (tls.cert, tls.key),
        None => (None, None),
    };
    let cert = args.tls_cert.clone().or(file_cert);
    let key = args.tls_key.clone().or(file_key);
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => return Err(bad("tls.key", "required when tls.cert is set")),
        (None, Some(_)) => return Err(bad("tls.cert", "required when tls.key is set")),
    };
    if let Some(files) = &tls {
        confidant_relay::check_tls(files).map_err(tls_error)?;
    }
    let limits = limits(args, &file.limits)?;
    let cluster = cluster(args.cluster_nats_url.clone(), file.cluster)?;
    let allowed_origins = if args.allowed_origins.is_empty() {
        file.allowed_origins
    } else {
        args.allowed_origins.clone()
    };
    for (index, origin) in allowed_origins.iter().enumerate() {
        let scheme_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        if scheme_host
            .is_none_or(|rest| rest.is_empty() || rest.trim_end_matches('/').contains('/'))
        {
            return Err(bad(
                format!("allowed_origins[{index}]"),
                "an origin is scheme://host[:port], e.g. https://app.example.org (no path)",
            ));
        }
    }
    let mut watched = Vec::new();
    if let Some(config) = &args.config {
        watched.push(config.clone());
    }
    if let Some(tls) = &tls {
        watched.push(tls.cert.clone());
        watched.push(tls.key.clone());
    }
    let mut programs = Vec::with_capacity(file.programs.len());
    for (index, program) in file.programs.into_iter().enumerate() {
        let key = format!("programs[{index}]");
        if let Some(list) = &program.revocation_list {
            watched.push(list.clone());
        }
        let config = self::program(&key, program, now_unix)?;
        if let Some(other) = programs
            .iter()
            .position(|p: &ProgramConfig| p.id == config.id)
        {
            return Err(bad(
                format!("{key}.id"),
                format!("\"{}\" is already used by programs[{other}]", config.id),
            ));
        }
        programs.push(config);
    }
    if programs.is_empty() && !args.dev {
        return Err(bad(
            "programs",
            "no program configured: add a [[programs]] table (or run with --dev to try the relay)",
        ));
    }
    Ok(Settings {
        listen,
        admin_listen,
        log_format,
        log_level,
        shutdown_deadline,
        reload_interval,
        lock_memory,
        tls,
        cluster,
        allowed_origins,
        limits,
        programs,
        watched,
    })
}

/// A TLS file problem as a setting error: `tls.cert` / `tls.key`, the file, what to fix.
pub(crate) fn tls_error(error: confidant_relay::TlsError) -> SettingError {
    match error {
        confidant_relay::TlsError::File { key, path, reason } => {
            bad(key, format!("{path}: {reason}"))
        }
        other => bad("tls", other.to_string()),
    }
}

fn address(
    key: &str,
    flag: Option<&str>,
    file: Option<&str>,
    default: &str,
) -> Result<SocketAddr, SettingError> {
    let text = flag.or(file).unwrap_or(default);
    text.parse().map_err(|_| {
        bad(
            key,
            format!("\"{text}\" is not an address:port such as {default}"),
        )
    })
}

fn limits(args: &Args, file: &FileLimits) -> Result<Limits, SettingError> {
    let defaults = Limits::default();
    let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
        flag.or(file).map_or(default, Duration::from_secs)
    };
    let limits = Limits {
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(defaults.max_connections),
        max_connections_per_source: args
            .max_connections_per_source
            .or(file.max_connections_per_source)
            .unwrap_or(defaults.max_connections_per_source),
        max_queue: args
            .max_queue
            .or(file.max_queue)
            .unwrap_or(defaults.max_queue),
        frames_per_second: args
            .frames_per_second
            .or(file.frames_per_second)
            .unwrap_or(defaults.frames_per_second),
        frame_burst: args
            .frame_burst
            .or(file.frame_burst)
            .unwrap_or(defaults.frame_burst),
        hello_timeout: secs(
            args.hello_timeout,
            file.hello_timeout_secs,
            defaults.hello_timeout,
        ),
        offer_timeout: secs(
            args.offer_timeout,
            file.offer_timeout_secs,
            defaults.offer_timeout,
        ),
        chat_handshake_timeout: secs(
            args.chat_handshake_timeout,
            file.chat_handshake_timeout_secs,
            defaults.chat_handshake_timeout,
        ),
        idle_timeout: secs(
            args.idle_timeout,
            file.idle_timeout_secs,
            defaults.idle_timeout,
        ),
        chat_buffer_frames: args
            .chat_buffer_frames
            .or(file.chat_buffer_frames)
            .unwrap_or(defaults.chat_buffer_frames),
        slow_reader_grace: args
            .slow_reader_grace_ms
            .or(file.slow_reader_grace_ms)
            .map_or(defaults.slow_reader_grace, Duration::from_millis),
        shutdown_grace: secs(
            args.shutdown_grace,
            file.shutdown_grace_secs,
            defaults.shutdown_grace,
        ),
        read_buffer_bytes: args
            .read_buffer_bytes
            .or(file.read_buffer_bytes)
            .unwrap_or(defaults.read_buffer_bytes),
        resume_grace: secs(
            args.resume_grace,
            file.resume_grace_secs,
            defaults.resume_grace,
        ),
        keepalive_idle: defaults.keepalive_idle,
        keepalive_deadline: defaults.keepalive_deadline,
        admission: match args.admission.or(file.admission) {
            None => defaults.admission,
            Some(crate::args::Admission::Auto) => confidant_relay::AdmissionMode::Auto,
            Some(crate::args::Admission::Always) => confidant_relay::AdmissionMode::Always,
            Some(crate::args::Admission::Off) => confidant_relay::AdmissionMode::Off,
        },
        admission_open_connections: args
            .admission_open_connections
            .or(file.admission_open_connections)
            .unwrap_or(defaults.admission_open_connections),
        admission_new_per_second: args
            .admission_new_per_second
            .or(file.admission_new_per_second)
            .unwrap_or(defaults.admission_new_per_second),
        admission_difficulty: args
            .admission_difficulty
            .or(file.admission_difficulty)
            .unwrap_or(defaults.admission_difficulty),
        admission_validity: defaults.admission_validity,
    };
    let positive = [
        ("limits.max_connections", limits.max_connections == 0),
        ("limits.max_queue", limits.max_queue == 0),
        ("limits.frames_per_second", limits.frames_per_second == 0),
        ("limits.frame_burst", limits.frame_burst == 0),
        ("limits.hello_timeout_secs", limits.hello_timeout.is_zero()),
        ("limits.offer_timeout_secs", limits.offer_timeout.is_zero()),
        (
            "limits.chat_handshake_timeout_secs",
            limits.chat_handshake_timeout.is_zero(),
        ),
        ("limits.idle_timeout_secs", limits.idle_timeout.is_zero()),
        ("limits.chat_buffer_frames", limits.chat_buffer_frames == 0),
        (
            "limits.admission_open_connections",
            limits.admission_open_connections == 0,
        ),
        (
            "limits.admission_new_per_second",
            limits.admission_new_per_second == 0,
        ),
    ];
    for (key, zero) in positive {
        if zero {
            return Err(bad(key, "must be greater than 0"));
        }
    }
    if !(1..=32).contains(&limits.admission_difficulty) {
        return Err(bad(
            "limits.admission_difficulty",
            "must be between 1 and 32",
        ));
    }
    if !confidant_relay::READ_BUFFER_RANGE.contains(&limits.read_buffer_bytes) {
        return Err(bad(
            "limits.read_buffer_bytes",
            "must be between 1024 and 65536",
        ));
    }
    Ok(limits)
}

/// A protocol tag: 1–64 of `a-z`, `0-9`, `-`.
fn is_tag(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn program(key: &str, program: FileProgram, now_unix: u64) -> Result<ProgramConfig, SettingError> {
    if !is_tag(&program.id) {
        return Err(bad(
            format!("{key}.id"),
            "must be 1-64 characters of a-z, 0-9 and -",
        ));
    }
    if program.name.trim().is_empty() {
        return Err(bad(format!("{key}.name"), "must not be empty"));
    }
    for (field, tags) in [
        ("topics", &program.topics),
        ("languages", &program.languages),
        ("peer_roles", &program.peer_roles),
    ] {
        if let Some((index, _)) = tags.iter().enumerate().find(|(_, tag)| !is_tag(tag)) {
            return Err(bad(
                format!("{key}.{field}[{index}]"),
                "must be 1-64 characters of a-z, 0-9 and -",
            ));
        }
    }
    let root_public_key = root_key(&format!("{key}.root_key"), &program.root_key)?;
    let revocation_list = match &program.revocation_list {
        Some(path) => {
            let list_key = format!("{key}.revocation_list");
            let bytes = read_revocation_list(path).map_err(|message| bad(&list_key, message))?;
            confidant_crypto::verify_revocation_list(
                &root_public_key,
                &program.id,
                &bytes,
                now_unix,
                0,
            )
            .map_err(|e| {
                let message = if e == confidant_crypto::CredentialError::BadSignature {
                    // The list is signed by the program's root key: when its signature fails,
                    // the root key configured is by far the likelier mistake.
                    format!(
                        "{} is not signed by the root key in {key}.root_key (fingerprint {}): \
                         most likely root_key is not this program's root public key — give the \
                         root.pub that `confidant admin init` wrote for this program (it printed \
                         its fingerprint) — or the list was made with another program's root key \
                         (bad_signature)",
                        path.display(),
                        confidant_relay::root_key_fingerprint(&root_public_key),
                    )
                } else {
                    format!(
                        "{} does not verify for this program and root key ({})",
                        path.display(),
                        e.code()
                    )
                };
                bad(&list_key, message)
            })?;
            bytes
        }
        None => Vec::new(),
    };
    let resources = resource_list(&format!("{key}.resources"), program.resources)?;
    let details = ProgramDetails {
        emergency: resource_list(&format!("{key}.emergency"), program.emergency)?,
        confidentiality: program.confidentiality,
        departments: program.departments,
        labels: program.labels,
    };
    check_details(key, &details)?;
    let wait_limit = match program.wait_limit_secs {
        Some(0) => {
            return Err(bad(
                format!("{key}.wait_limit_secs"),
                "must be greater than 0",
            ));
        }
        Some(secs) if secs > 24 * 60 * 60 => {
            return Err(bad(
                format!("{key}.wait_limit_secs"),
                "must be at most 86400 (a day)",
            ));
        }
        Some(secs) => Duration::from_secs(secs),
        None => confidant_proto::limits::DEFAULT_WAIT_LIMIT,
    };
    Ok(ProgramConfig {
        id: program.id,
        name: program.name,
        root_public_key,
        topics: program.topics,
        languages: program.languages,
        peer_roles: program.peer_roles,
        resources,
        wait_limit,
        revocation_list,
        details,
    })
    .and_then(|config| {
        // The description travels in `welcome`, a control frame: keep it well inside
        // MAX_CONTROL_FRAME, with room for the rest of the frame.
        let size = serde_json::to_string(&config.info_with_details())
            .map(|json| json.len())
            .unwrap_or(usize::MAX);
        if size > MAX_PROGRAM_DESCRIPTION {
            return Err(bad(
                key,
                format!(
                    "the program's description is {size} bytes as JSON, above \
                     {MAX_PROGRAM_DESCRIPTION}: shorten the resources, confidentiality \
                     texts, departments or labels"
                ),
            ));
        }
        Ok(config)
    })
}

/// The largest program description (as JSON) a relay accepts in its configuration: well
/// inside `MAX_CONTROL_FRAME` (24,576), which must also hold the rest of `welcome`.
const MAX_PROGRAM_DESCRIPTION: usize = 16 * 1024;

/// A list of resource cards (`resources`, `emergency`), each with a title and a way to reach it.
fn resource_list(key: &str, list: Vec<FileResource>) -> Result<Vec<Resource>, SettingError> {
    let mut out = Vec::with_capacity(list.len());
    for (index, resource) in list.into_iter().enumerate() {
        if resource.title.trim().is_empty() {
            return Err(bad(format!("{key}[{index}].title"), "must not be empty"));
        }
        if resource.url.is_none() && resource.phone.is_none() && resource.email.is_none() {
            return Err(bad(
                format!("{key}[{index}]"),
                "needs at least one of url, phone, email",
            ));
        }
        out.push(Resource {
            title: resource.title,
            url: resource.url,
            phone: resource.phone,
            email: resource.email,
        });
    }
    Ok(out)
}

/// The shapes the schema promises clients: language and tag keys are tags, texts are not
/// empty, lists are bounded.
fn check_details(key: &str, details: &ProgramDetails) -> Result<(), SettingError> {
    if details.emergency.len() > 8 {
        return Err(bad(format!("{key}.emergency"), "at most 8 entries"));
    }
    for (language, text) in &details.confidentiality {
        let at = format!("{key}.confidentiality.{language}");
        if !is_tag(language) {
            return Err(bad(at, "the key must be a language tag, e.g. en or fr"));
        }
        if text.trim().is_empty() || text.len() > 2000 {
            return Err(bad(at, "must be 1 to 2000 bytes of text"));
        }
    }
    if details.departments.len() > 200 {
        return Err(bad(format!("{key}.departments"), "at most 200 departments"));
    }
    for (index, department) in details.departments.iter().enumerate() {
        if department.trim().is_empty() || department.len() > 128 {
            return Err(bad(
                format!("{key}.departments[{index}]"),
                "must be 1 to 128 bytes",
            ));
        }
    }
    for (language, labels) in &details.labels {
        if !is_tag(language) {
            return Err(bad(
                format!("{key}.labels.{language}"),
                "the key must be a language tag, e.g. en or fr",
            ));
        }
        for (tag, label) in labels {
            let at = format!("{key}.labels.{language}.{tag}");
            if !is_tag(tag) {
                return Err(bad(at, "the key must be a tag of the program"));
            }
            if label.trim().is_empty() || label.len() > 128 {
                return Err(bad(at, "must be 1 to 128 bytes"));
            }
        }
    }
    if details.confidentiality.len() > 8 || details.labels.len() > 8 {
        return Err(bad(
            key,
            "at most 8 languages of confidentiality texts and labels",
        ));
    }
    Ok(())
}

/// 64 hex digits, or the path of a `confidant-root-public-key-v1` file (or of a file
/// holding the 64 hex digits).
fn root_key(key: &str, value: &str) -> Result<[u8; 32], SettingError> {
    let value = value.trim();
    if let Some(bytes) = parse_hex32(value) {
        return Ok(bytes);
    }
    let path = Path::new(value);
    if !value.contains('/') && !path.exists() {
        return Err(bad(
            key,
            "not 64 hex characters (nor the path of a root public key file)",
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(key, format!("cannot read {}: {e}", path.display())))?;
    if let Some(bytes) = parse_hex32(text.trim()) {
        return Ok(bytes);
    }
    confidant_crypto::keys::decode_root_public_key_file(&text).map_err(|_| {
        use confidant_crypto::keys::{ISSUING_KEY_LABEL, ROOT_KEY_LABEL, SUPPORTER_KEY_LABEL};
        let label = text.lines().next().unwrap_or_default().trim();
        let message = if label == ROOT_KEY_LABEL {
            format!(
                "{} is the program's SECRET root key ({ROOT_KEY_LABEL}), which must never be on \
                 the relay: give the .pub file `confidant admin init` wrote beside it (root.pub \
                 for root.key) or its 64 hex characters, and keep the secret key offline",
                path.display()
            )
        } else if label == ISSUING_KEY_LABEL || label == SUPPORTER_KEY_LABEL {
            format!(
                "{} is a secret key ({label}), not the program's root public key: give the \
                 root.pub that `confidant admin init` wrote",
                path.display()
            )
        } else {
            format!(
                "{} is neither 64 hex characters nor a confidant-root-public-key-v1 file",
                path.display()
            )
        };
        bad(key, message)
    })
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    confidant_crypto::hex::decode::<32>(text)
}

/// Reads a `confidant-revocation-list-v1` file (from `confidant admin revoke`).
pub(crate) fn read_revocation_list(path: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    decode_single(REVOCATION_LIST_LABEL, &text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_keys() {
        assert_eq!(parse_hex32(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_hex32(&"ab".repeat(31)), None);
        assert_eq!(parse_hex32(&"zz".repeat(32)), None);
        assert!(root_key("k", "1234").is_err());
    }

    #[test]
    fn tags() {
        assert!(is_tag("resident-peer-support"));
        assert!(!is_tag("Resident"));
        assert!(!is_tag(""));
    }
}
