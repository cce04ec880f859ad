//! `confidant admin` and `keygen` end to end in a temporary directory: the files they
//! write (and their modes), that the result verifies, and a clear error for every bad
//! file or argument.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use confidant_crypto::SignedBody as _;
use confidant_crypto::wall_clock::unix_now as now;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use confidant_client::credential_files::{REVOCATION_LIST_LABEL, decode_credential, decode_single};
use confidant_crypto::{RevocationList, verify_chain};

const PROGRAM: &str = "resident-peer-support";

fn confidant(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confidant"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

/// Runs `confidant` in `dir` and returns its standard output; panics with its standard
/// error when it fails.
pub(super) fn ok(dir: &Path, args: &[&str]) -> String {
    let output = confidant(dir, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn fails(dir: &Path, args: &[&str], expected: &str) {
    let output = confidant(dir, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(
        stderr.contains(expected),
        "{args:?}: expected {expected:?} in {stderr:?}"
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The whole administrator flow, then verification of what it produced.
fn full_setup(dir: &Path) -> [u8; 32] {
    let init = ok(dir, &["admin", "init", "--out", "root.key"]);
    let root_hex = init.lines().last().unwrap().trim().to_owned();
    assert_eq!(root_hex.len(), 64);
    ok(
        dir,
        &[
            "admin",
            "issue",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--days",
            "90",
            "--out",
            "issuer.key",
        ],
    );
    ok(dir, &["keygen", "--out", "supporter.key"]);
    ok(
        dir,
        &[
            "admin",
            "sign",
            "--issuer",
            "issuer.key",
            "--request",
            "supporter.request",
            "--name",
            "Dr. Example",
            "--role",
            "resident",
            "--department",
            "Surgery",
            "--topics",
            "burnout,litigation",
            "--languages",
            "en,fr",
            "--days",
            "30",
            "--serial",
            "7",
            "--out",
            "supporter.cred",
        ],
    );
    ok(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--list",
            "revocation.list",
        ],
    );
    confidant_client::parse_root_key(&root_hex).unwrap()
}

#[test]
fn admin_flow_produces_a_verifying_credential_with_private_files_0600() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let root_public = full_setup(dir);

    for secret in ["root.key", "issuer.key", "supporter.key"] {
        assert_eq!(mode(&dir.join(secret)), 0o600, "{secret}");
    }
    // The key request holds only the public keys: X25519 and, by default, ML-KEM-768.
    let request = std::fs::read_to_string(dir.join("supporter.request")).unwrap();
    let key_file = std::fs::read_to_string(dir.join("supporter.key")).unwrap();
    assert!(key_file.starts_with("confidant-supporter-key-v2\n"));
    let (secret, mlkem) = confidant_crypto::decode_supporter_key_file(&key_file).unwrap();
    let mlkem = mlkem.expect("keygen makes an ML-KEM key by default");
    assert_eq!(
        confidant_client::credential_files::decode_key_request_any(&request).unwrap(),
        (secret.public(), Some(mlkem.public()))
    );
    // root.pub matches the printed key.
    let root_pub = std::fs::read_to_string(dir.join("root.pub")).unwrap();
    assert_eq!(
        confidant_crypto::keys::decode_root_public_key_file(&root_pub).unwrap(),
        root_public
    );

    let (issuer, supporter) =
        decode_credential(&std::fs::read_to_string(dir.join("supporter.cred")).unwrap()).unwrap();
    let list = decode_single(
        REVOCATION_LIST_LABEL,
        &std::fs::read_to_string(dir.join("revocation.list")).unwrap(),
    )
    .unwrap();
    let verified = verify_chain(&root_public, PROGRAM, &issuer, &supporter, &list, now(), 0)
        .expect("the CLI's credential verifies");
    assert_eq!(verified.certificate.display_name, "Dr. Example");
    assert_eq!(verified.certificate.serial, 7);
    assert_eq!(verified.certificate.x25519_public, secret.public());
    assert_eq!(
        verified.certificate.mlkem768_public,
        Some(mlkem.public()),
        "the signed certificate carries the request's ML-KEM key (version 2)"
    );
    assert_eq!(verified.revocation_sequence, 1);

    // The peer SDK loads the three files.
    confidant_client::PeerCredential::from_files(
        &dir.join("supporter.key"),
        &dir.join("supporter.cred"),
        &dir.join("revocation.list"),
    )
    .expect("the SDK loads the CLI's files");

    // Revoking serial 7 bumps the sequence and the chain no longer verifies.
    ok(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--serial",
            "7",
            "--list",
            "revocation.list",
        ],
    );
    let list = decode_single(
        REVOCATION_LIST_LABEL,
        &std::fs::read_to_string(dir.join("revocation.list")).unwrap(),
    )
    .unwrap();
    let decoded = RevocationList::decode_unverified(&list).unwrap();
    assert_eq!(decoded.sequence, 2);
    assert_eq!(decoded.revoked_serials, vec![7]);
    assert!(decoded.next_update > now());
    assert_eq!(
        verify_chain(&root_public, PROGRAM, &issuer, &supporter, &list, now(), 1).unwrap_err(),
        confidant_crypto::CredentialError::Revoked
    );
}

/// `keygen --x25519-only` writes the version-1 key file and request, and `admin sign` then
/// issues a version-1 certificate (no ML-KEM key) that clients from before ML-KEM verify.
#[test]
fn keygen_x25519_only_gives_a_version_1_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    full_setup(dir);
    ok(dir, &["keygen", "--out", "classic.key", "--x25519-only"]);
    let key_file = std::fs::read_to_string(dir.join("classic.key")).unwrap();
    assert!(key_file.starts_with("confidant-supporter-key-v1\n"));
    let request = std::fs::read_to_string(dir.join("classic.request")).unwrap();
    assert!(request.starts_with("confidant-key-request-v1\n"));
    ok(
        dir,
        &[
            "admin",
            "sign",
            "--issuer",
            "issuer.key",
            "--request",
            "classic.request",
            "--name",
            "Dr. Classic",
            "--role",
            "resident",
            "--department",
            "Surgery",
            "--topics",
            "burnout",
            "--languages",
            "en",
            "--days",
            "30",
            "--serial",
            "8",
            "--out",
            "classic.cred",
        ],
    );
    let (_, supporter) =
        decode_credential(&std::fs::read_to_string(dir.join("classic.cred")).unwrap()).unwrap();
    assert_eq!(supporter[0], 1, "a version-1 supporter certificate body");
    // With the ML-KEM key a certificate has about 730 bytes left for its text: a long list
    // of topics is refused by `sign` rather than by the relay at `present`.
    let topics: Vec<String> = (0..12)
        .map(|i| format!("{i:02}-{}", "t".repeat(60)))
        .collect();
    fails(
        dir,
        &[
            "admin",
            "sign",
            "--issuer",
            "issuer.key",
            "--request",
            "supporter.request",
            "--name",
            "Dr. Long",
            "--role",
            "resident",
            "--department",
            "Surgery",
            "--topics",
            &topics.join(","),
            "--languages",
            "en",
            "--days",
            "30",
            "--serial",
            "9",
            "--out",
            "long.cred",
        ],
        "more than the protocol's 2048",
    );
    confidant_client::PeerCredential::from_files(
        &dir.join("classic.key"),
        &dir.join("classic.cred"),
        &dir.join("revocation.list"),
    )
    .expect("the SDK loads a version-1 key file and credential");
}

#[test]
fn refuses_to_overwrite_and_reports_bad_files_and_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    full_setup(dir);

    // Never overwrite a secret.
    let before = std::fs::read(dir.join("supporter.key")).unwrap();
    fails(dir, &["keygen", "--out", "supporter.key"], "already exists");
    assert_eq!(std::fs::read(dir.join("supporter.key")).unwrap(), before);
    fails(
        dir,
        &["admin", "init", "--out", "root.key"],
        "already exists",
    );

    // Missing file.
    fails(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "nope.key",
            "--program",
            PROGRAM,
            "--list",
            "l",
        ],
        "nope.key: reading failed",
    );
    // Wrong kind of key (issuing key given as root).
    fails(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "issuer.key",
            "--program",
            PROGRAM,
            "--list",
            "l",
        ],
        "label does not match",
    );
    // Bad base64 in a key file.
    std::fs::write(
        dir.join("broken.key"),
        "confidant-root-key-v1\n!!!not-base64!!!\n",
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("broken.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fails(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "broken.key",
            "--program",
            PROGRAM,
            "--list",
            "l",
        ],
        "base64",
    );
    // A secret key others can read.
    std::fs::set_permissions(dir.join("root.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    fails(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--list",
            "l",
        ],
        "too open",
    );
    std::fs::set_permissions(dir.join("root.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // A credential file given where a revocation list belongs.
    fails(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--list",
            "supporter.cred",
        ],
        "wrong kind of file",
    );
    // Bad arguments.
    fails(
        dir,
        &[
            "admin",
            "issue",
            "--root",
            "root.key",
            "--program",
            "Not A Tag",
            "--out",
            "x.key",
        ],
        "program ids are",
    );
    fails(
        dir,
        &[
            "admin",
            "issue",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--days",
            "0",
            "--out",
            "x.key",
        ],
        "--days 0",
    );
    fails(
        dir,
        &[
            "admin",
            "sign",
            "--issuer",
            "issuer.key",
            "--request",
            "deadbeef",
            "--name",
            "X",
            "--role",
            "resident",
            "--department",
            "D",
            "--serial",
            "1",
            "--out",
            "x.cred",
        ],
        "--request",
    );
    fails(
        dir,
        &[
            "admin",
            "sign",
            "--issuer",
            "issuer.key",
            "--request",
            "supporter.request",
            "--name",
            "X",
            "--role",
            "Senior Resident",
            "--department",
            "D",
            "--serial",
            "1",
            "--out",
            "x.cred",
        ],
        "--role",
    );
    fails(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--issuer-key-id",
            "xyz",
            "--list",
            "revocation.list",
        ],
        "16 hex digits",
    );
    // A list signed by another root is not silently superseded.
    ok(dir, &["admin", "init", "--out", "other.key"]);
    fails(
        dir,
        &[
            "admin",
            "revoke",
            "--root",
            "other.key",
            "--program",
            PROGRAM,
            "--list",
            "revocation.list",
        ],
        "existing list",
    );
    // seek without a root key says what to do.
    fails(
        dir,
        &["seek", "--program", PROGRAM],
        "--root-key is required",
    );
    fails(
        dir,
        &["seek", "--program", PROGRAM, "--root-key", "abcd"],
        "--root-key",
    );
    assert!(!dir.join("x.key").exists());
    assert!(!dir.join("x.cred").exists());
}

/// The file names the help promises are the ones the tools write (issue 23: `admin init
/// --help` said `<out>.pub`, but `--out root.key` writes `root.pub`; the README passed
/// `supporter.key.pub` to `sign`, but `keygen` writes `supporter.request`).
#[test]
fn help_names_the_files_the_tools_write() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let words = |text: String| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let help = words(ok(dir, &["admin", "init", "--help"]));
    assert!(
        help.contains("`--out root.key` writes `root.pub`"),
        "{help}"
    );
    ok(dir, &["admin", "init", "--out", "root.key"]);
    assert!(dir.join("root.pub").exists());
    assert!(!dir.join("root.key.pub").exists());

    let help = words(ok(dir, &["admin", "sign", "--help"]));
    assert!(
        help.contains("`--out supporter.key` writes `supporter.request`"),
        "{help}"
    );
    ok(dir, &["keygen", "--out", "supporter.key"]);
    assert!(dir.join("supporter.request").exists());
    ok(
        dir,
        &[
            "admin",
            "issue",
            "--root",
            "root.key",
            "--program",
            PROGRAM,
            "--out",
            "issuer.key",
        ],
    );
    fails(
        dir,
        &[
            "admin",
            "sign",
            "--issuer",
            "issuer.key",
            "--request",
            "supporter.key.pub",
            "--name",
            "A",
            "--role",
            "resident",
            "--department",
            "surgery",
            "--serial",
            "1",
            "--out",
            "supporter.cred",
        ],
        "writes the request as supporter.request",
    );
}

/// `admin sign --programs FILE` (the relay's `GET /v1/programs?features=program-details`
/// answer) refuses a department the program does not list, which the relay would refuse at
/// login anyway, and says what the program lists (issue 15: departments as a program list).
#[test]
fn sign_refuses_a_department_the_program_does_not_list() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    full_setup(dir);
    ok(dir, &["keygen", "--out", "second.key"]);
    let program = |id: &str, departments: &[&str]| {
        serde_json::json!({
            "id": id,
            "name": "A program",
            "root_key": "00".repeat(32),
            "topics": [],
            "languages": ["en"],
            "peer_roles": [],
            "resources": [],
            "wait_limit_secs": 600,
            "departments": departments,
        })
    };
    std::fs::write(
        dir.join("programs.json"),
        serde_json::json!([
            program("another-program", &["Cardiology"]),
            program(PROGRAM, &["Emergency Medicine", "Surgery"]),
        ])
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("other-programs.json"),
        serde_json::json!([program("another-program", &["Cardiology"])]).to_string(),
    )
    .unwrap();
    let sign = |department: &str, programs: &str, out: &str| -> Vec<String> {
        [
            "admin",
            "sign",
            "--issuer",
            "issuer.key",
            "--request",
            "second.request",
            "--name",
            "Dr. Second",
            "--role",
            "resident",
            "--department",
            department,
            "--programs",
            programs,
            "--serial",
            "8",
            "--out",
            out,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let cardiology = sign("Cardiology", "programs.json", "a.cred");
    fails(
        dir,
        &strs(&cardiology),
        "is not one of program \"resident-peer-support\"'s departments",
    );
    let lower = sign("surgery", "programs.json", "a.cred");
    fails(dir, &strs(&lower), "did you mean \"Surgery\"?");
    let elsewhere = sign("Surgery", "other-programs.json", "a.cred");
    fails(dir, &strs(&elsewhere), "is not in this list");
    assert!(!dir.join("a.cred").exists(), "nothing written on refusal");
    let listed = sign("Surgery", "programs.json", "b.cred");
    ok(dir, &strs(&listed));
    let credential = decode_credential(&std::fs::read_to_string(dir.join("b.cred")).unwrap());
    let (_, supporter) = credential.unwrap();
    let certificate =
        confidant_crypto::SupporterCertificate::decode_unverified(&supporter).unwrap();
    assert_eq!(certificate.department, "Surgery");
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
