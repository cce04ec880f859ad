//! `--dev`: the seed's two programs with ephemeral keys made in memory at start-up (or,
//! with `--dev-seed`, derived from a shared text so several dev nodes share them), and a
//! demo peer (a normal client over loopback) for each. Nothing is written to disk — except,
//! only when `--dev-peer-credential-dir` asks, a test supporter's credential files for
//! browser and CLI tests. The keys die with the process.

use confidant_crypto::wall_clock::unix_now as now_unix;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use confidant_crypto::{
    CodecError, IssuingKey, KeyError, ProgramAuthority, RootKey, SupporterProfile, SupporterSecret,
};
use confidant_proto::Resource;
use confidant_relay::{ProgramConfig, ProgramDetails};

const DAY: u64 = 24 * 60 * 60;

/// Why dev keys could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevError {
    /// Randomness or key generation failed.
    #[error("key generation failed: {0:?}")]
    Key(KeyError),
    /// Encoding a certificate or list failed.
    #[error("encoding failed: {0:?}")]
    Codec(CodecError),
}

/// A dev program and every key the demo peer hook needs to get a credential.
pub(crate) struct DevProgram {
    /// Program id.
    pub(crate) id: &'static str,
    /// Human name.
    pub(crate) name: &'static str,
    /// The ephemeral root, issuing key and issuer certificate.
    pub(crate) authority: ProgramAuthority,
    /// Revocation list (sequence 1, revokes nothing).
    pub(crate) revocation_list: Vec<u8>,
}

impl DevProgram {
    /// The seed's programs: the Resident Peer Support Program and the TOH Peer Mentoring
    /// Program.
    /// With `shared`, the keys are derived from that text (`--dev-seed`): every dev node
    /// given the same text has the same program keys.
    pub(crate) fn seed(shared: Option<&str>) -> Result<Vec<Self>, DevError> {
        Ok(vec![
            Self::new(
                "resident-peer-support",
                "Resident Peer Support Program",
                shared,
            )?,
            Self::new("toh-peer-mentoring", "TOH Peer Mentoring Program", shared)?,
        ])
    }

    fn new(id: &'static str, name: &'static str, shared: Option<&str>) -> Result<Self, DevError> {
        let (root, issuer) = match shared {
            Some(text) => (
                RootKey::from_bytes(&derive(text, id, "root")),
                IssuingKey::from_bytes(&derive(text, id, "issuer")),
            ),
            None => (
                RootKey::generate().map_err(DevError::Key)?,
                IssuingKey::generate().map_err(DevError::Key)?,
            ),
        };
        let now = now_unix();
        let mut authority = ProgramAuthority::new(id, root, issuer, now - DAY, now + 30 * DAY)
            .map_err(DevError::Codec)?;
        let revocation_list = authority
            .revoke(&[], now, now + 30 * DAY)
            .map_err(DevError::Codec)?;
        Ok(Self {
            id,
            name,
            authority,
            revocation_list,
        })
    }

    /// The relay configuration for this program.
    pub(crate) fn config(&self, wait_limit: Option<Duration>) -> ProgramConfig {
        ProgramConfig {
            id: self.id.to_owned(),
            name: self.name.to_owned(),
            root_public_key: self.authority.root().public(),
            topics: ["adverse-event", "litigation", "burnout", "moral-injury"]
                .map(String::from)
                .to_vec(),
            languages: vec!["en".into(), "fr".into()],
            // `demo`: the demo peer's role (a relay refuses certificates for roles its program
            // does not list), so a dev seeker can also see it offered as a kind of peer.
            peer_roles: vec![
                "resident".into(),
                "staff".into(),
                "nursing".into(),
                "demo".into(),
            ],
            resources: vec![Resource {
                title: "Faculty Wellness Program — counselling services".into(),
                url: None,
                phone: Some("613-562-5211".into()),
                email: None,
            }],
            wait_limit: wait_limit.unwrap_or(confidant_proto::limits::DEFAULT_WAIT_LIMIT),
            revocation_list: self.revocation_list.clone(),
            details: dev_details(),
        }
    }

    /// Signs a test supporter certificate for `secret` (`--dev-peer-credential-dir`).
    /// Returns the supporter certificate's wire bytes.
    pub(crate) fn issue_supporter(
        &self,
        secret: &SupporterSecret,
        mlkem_public: Option<Vec<u8>>,
        serial: u64,
        display_name: &str,
        role: &str,
    ) -> Result<Vec<u8>, DevError> {
        let now = now_unix();
        let profile = SupporterProfile {
            display_name: display_name.to_owned(),
            role: role.to_owned(),
            // Not the demo peer's department: a seeker who avoids "Demo" is passed the demo
            // peer and can still be matched with this supporter (web e2e, `pass`).
            department: "Surgery".to_owned(),
            topics: Vec::new(),
            languages: vec!["en".into(), "fr".into()],
            not_before: now - DAY,
            not_after: now + 7 * DAY,
        };
        self.authority
            .issue_with_mlkem(serial, secret.public(), mlkem_public, profile)
            .map_err(DevError::Codec)
    }
}

/// The seed programs' details: Ottawa's emergency numbers (911, and the 9-8-8 Suicide Crisis
/// Helpline), a statement of the limits of confidentiality in English and French, the
/// departments certificates may name (with the demo peer's), and labels for every tag.
fn dev_details() -> ProgramDetails {
    let resource = |title: &str, phone: &str| Resource {
        title: title.to_owned(),
        url: None,
        phone: Some(phone.to_owned()),
        email: None,
    };
    let texts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let labels = [
        (
            "en",
            texts(&[
                ("adverse-event", "Adverse event"),
                ("litigation", "Litigation"),
                ("burnout", "Burnout"),
                ("moral-injury", "Moral injury"),
                ("en", "English"),
                ("fr", "French"),
                ("resident", "Resident"),
                ("staff", "Staff physician"),
                ("nursing", "Nursing"),
                ("demo", "Demo"),
            ]),
        ),
        (
            "fr",
            texts(&[
                ("adverse-event", "Événement indésirable"),
                ("litigation", "Litige"),
                ("burnout", "Épuisement professionnel"),
                ("moral-injury", "Blessure morale"),
                ("en", "Anglais"),
                ("fr", "Français"),
                ("resident", "Résident·e"),
                ("staff", "Médecin du personnel"),
                ("nursing", "Soins infirmiers"),
                ("demo", "Démonstration"),
            ]),
        ),
    ]
    .into_iter()
    .map(|(language, labels)| (language.to_owned(), labels))
    .collect();
    ProgramDetails {
        emergency: vec![
            resource("Emergency services", "911"),
            resource("9-8-8 Suicide Crisis Helpline (call or text)", "988"),
        ],
        confidentiality: texts(&[
            (
                "en",
                "What you say here stays between you and your peer: nothing is recorded, \
                 documented or reported to your program, division, department or employer. \
                 The one exception: if you tell your peer that you or someone else is at \
                 imminent risk of serious harm, they may help you reach emergency help. Peer \
                 support is not therapy; professional help is listed on this page.",
            ),
            (
                "fr",
                "Ce que vous dites ici reste entre vous et votre pair : rien n'est enregistré, \
                 consigné ni transmis à votre programme, division, département ou employeur. \
                 Une seule exception : si vous dites à votre pair que vous-même ou une autre \
                 personne courez un risque imminent de préjudice grave, votre pair peut vous \
                 aider à joindre les services d'urgence. Le soutien par les pairs n'est pas une \
                 thérapie ; l'aide professionnelle figure sur cette page.",
            ),
        ]),
        departments: [
            "Anesthesiology",
            "Emergency Medicine",
            "Family Medicine",
            "Internal Medicine",
            "Obstetrics and Gynecology",
            "Pediatrics",
            "Psychiatry",
            "Surgery",
            "Demo",
        ]
        .map(String::from)
        .to_vec(),
        labels,
    }
}

/// A 32-byte key seed from the `--dev-seed` text, per program and key.
fn derive(text: &str, program: &str, key: &str) -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    let mut hash = Sha256::new();
    for part in ["confidant dev key v1", program, key, text] {
        hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

/// Display name of the `--dev-peer-credential-dir` supporter.
pub(crate) const TEST_PEER_NAME: &str = "Dev test peer (not a real person)";

/// Display name of the `--dev-peer-credential-dir` supporter with an ML-KEM-768 key.
pub(crate) const TEST_PQ_PEER_NAME: &str = "Dev post-quantum test peer (not a real person)";

/// Writes a test supporter for `program` into `dir`: `supporter.key` (secret, mode 0600),
/// `supporter.credential`, `revocation.list`, `root.pub` and `program` (its id); and a
/// second supporter whose certificate carries an ML-KEM-768 key (the hybrid handshake),
/// `supporter-pq.key` and `supporter-pq.credential`. The first stays X25519 only, so
/// clients from before ML-KEM (the frozen version-1 CLI) can use it. The
/// files are the CLI's formats, so `confidant peer --key … --credential … --revocation …`
/// works with them as they are.
pub(crate) fn write_peer_credential(
    program: &DevProgram,
    dir: &std::path::Path,
) -> Result<(), String> {
    use confidant_client::credential_files::{
        CREDENTIAL_LABEL, REVOCATION_LIST_LABEL, encode_labelled,
    };
    let secret = SupporterSecret::generate().map_err(|e| format!("key generation: {e:?}"))?;
    let supporter = program
        .issue_supporter(&secret, None, 1_000, TEST_PEER_NAME, "resident")
        .map_err(|e| e.to_string())?;
    let key_path = dir.join("supporter.key");
    write_private(&key_path, secret.to_key_file().as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
    let pq_secret = SupporterSecret::generate().map_err(|e| format!("key generation: {e:?}"))?;
    let pq_mlkem =
        confidant_crypto::MlKemSecret::generate().map_err(|e| format!("key generation: {e:?}"))?;
    let pq_supporter = program
        .issue_supporter(
            &pq_secret,
            Some(pq_mlkem.public()),
            1_001,
            TEST_PQ_PEER_NAME,
            "resident",
        )
        .map_err(|e| e.to_string())?;
    let pq_key_path = dir.join("supporter-pq.key");
    let pq_key = confidant_crypto::encode_supporter_key_file(&pq_secret, Some(&pq_mlkem));
    write_private(&pq_key_path, pq_key.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", pq_key_path.display()))?;
    let files: [(&str, String); 5] = [
        (
            "supporter-pq.credential",
            encode_labelled(
                CREDENTIAL_LABEL,
                &[program.authority.issuer_certificate(), &pq_supporter],
            ),
        ),
        (
            "supporter.credential",
            encode_labelled(
                CREDENTIAL_LABEL,
                &[program.authority.issuer_certificate(), &supporter],
            ),
        ),
        (
            "revocation.list",
            encode_labelled(REVOCATION_LIST_LABEL, &[&program.revocation_list]),
        ),
        (
            "root.pub",
            confidant_crypto::keys::encode_root_public_key_file(&program.authority.root().public()),
        ),
        ("program", format!("{}\n", program.id)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        write_private(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Writes a file readable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// How to run the `confidant` command from here: the `confidant` beside this binary as
/// this process was invoked (`target/release/confidant` after a cargo build,
/// `/usr/bin/confidant` from a package); `None` when there is none (then `confidant` from
/// `PATH` is the best advice).
fn cli_command() -> Option<String> {
    let invoked = std::env::args_os().next().map(std::path::PathBuf::from);
    let beside = invoked
        .filter(|path| path.components().count() > 1)
        .map(|path| path.with_file_name("confidant"))
        .filter(|path| path.is_file());
    beside.map(|path| path.display().to_string())
}

/// Tells the operator how to try the relay.
pub(crate) fn print_banner(
    addr: SocketAddr,
    admin: SocketAddr,
    programs: &[DevProgram],
    demo_peer: bool,
    shared_keys: bool,
) {
    let first = programs.first().map_or("resident-peer-support", |p| p.id);
    let ws = format!("ws://{addr}{}", confidant_proto::limits::WEBSOCKET_PATH);
    let keys = if shared_keys {
        "keys from --dev-seed (shared by every node given the same text)"
    } else {
        "ephemeral keys"
    };
    println!("confidant-relay --dev: listening on {addr} (admin {admin}) — {keys}, memory only");
    println!("  programs:   http://{addr}/v1/programs");
    println!("  websocket:  {ws}");
    for program in programs {
        println!("  program {:<24} {}", program.id, program.name);
    }
    if demo_peer {
        println!(
            "  demo peer:  online in every program (\"{}\")",
            confidant_client::DEMO_DISPLAY_NAME
        );
    }
    println!();
    println!("Try it:");
    println!("  in a browser:  http://{addr}/");
    let relay_flag = if addr.to_string() == "127.0.0.1:8080" {
        String::new()
    } else {
        format!(" --relay {ws}")
    };
    let cli = cli_command();
    println!(
        "  in a terminal: {} seek --program {first} --trust-relay-root-key{relay_flag}",
        cli.as_deref().unwrap_or("confidant")
    );
    if cli.is_none() {
        println!(
            "                 (the confidant command; from the source tree: cargo build --release -p confidant-cli)"
        );
    }
    println!(
        "                 (--trust-relay-root-key is for this demo only: it trusts the relay's word for the program key)"
    );
    println!("  health:        curl http://{admin}/readyz ; curl http://{admin}/metrics");
    println!("Stop with Ctrl-C (clients are told and given time to finish).");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::DevProgram;

    fn roots(shared: Option<&str>) -> Vec<[u8; 32]> {
        DevProgram::seed(shared)
            .unwrap()
            .iter()
            .map(|p| p.authority.root().public())
            .collect()
    }

    #[test]
    fn dev_seed_gives_every_node_the_same_keys_and_random_keys_differ() {
        assert_eq!(roots(Some("try-out")), roots(Some("try-out")));
        assert_ne!(roots(Some("try-out")), roots(Some("other")));
        assert_ne!(roots(None), roots(None));
        // The two programs never share a key.
        let shared = roots(Some("try-out"));
        assert_ne!(shared[0], shared[1]);
    }
}
