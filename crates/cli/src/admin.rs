//! `confidant admin`: the program administrator's offline tools.
//!
//! Files: `root.key` (0600) + `root.pub`; `issuer.key` (0600) + `issuer.cert`;
//! `supporter.cred` (issuer + supporter certificates); `revocation.list`. The signed
//! revocation list is written directly by `revoke` — there is no separate publish step;
//! copy the file to the relay (which reloads it) and to the peers.

use confidant_crypto::SignedBody as _;
use confidant_crypto::wall_clock::unix_now as now;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use confidant_client::credential_files::{
    ISSUER_CERTIFICATE_LABEL, REVOCATION_LIST_LABEL, decode_key_request_any, decode_single,
    encode_credential, encode_labelled,
};
use confidant_crypto::keys::encode_root_public_key_file;
use confidant_crypto::{
    IssuerCertificate, IssuingKey, RevocationList, RootKey, SupporterCertificate,
    verify_revocation_list,
};

use crate::args::{AdminCommand, SignArgs};
use crate::cli_error::CliError;
use crate::files::{
    read_secret, read_text, replace_public, sibling, write_public_new, write_secret,
};

const DAY: u64 = 86_400;

pub(crate) fn run(command: AdminCommand) -> Result<(), CliError> {
    match command {
        AdminCommand::Init { out } => init(&out),
        AdminCommand::Issue {
            root,
            program,
            days,
            out,
            cert_out,
        } => issue(&root, &program, days, &out, cert_out),
        AdminCommand::Sign(args) => sign(&args),
        AdminCommand::Revoke {
            root,
            program,
            serial,
            issuer_key_id,
            list,
            days,
        } => revoke(&root, &program, &serial, &issuer_key_id, &list, days),
    }
}

fn init(out: &Path) -> Result<(), CliError> {
    let public_path = sibling(out, "pub");
    for path in [out, public_path.as_path()] {
        if path.exists() {
            return Err(CliError::AlreadyExists(path.to_owned()));
        }
    }
    let root = RootKey::generate()
        .map_err(|e| CliError::Invalid(format!("cannot generate a key: {e}")))?;
    write_secret(out, &root.to_key_file())?;
    write_public_new(&public_path, &encode_root_public_key_file(&root.public()))?;
    println!(
        "Root secret key written to {} (mode 0600). Keep it offline.",
        out.display()
    );
    println!(
        "Root public key written to {} (fingerprint {}; the relay logs it for each program \
         at start). Pin it in the relay and the clients:",
        public_path.display(),
        confidant_crypto::hex::encode(&confidant_crypto::keys::key_id(&root.public()))
    );
    println!("{}", confidant_crypto::hex::encode(&root.public()));
    Ok(())
}

fn load_root(path: &Path) -> Result<RootKey, CliError> {
    RootKey::from_key_file(&read_secret(path)?).map_err(|error| CliError::Key {
        path: path.to_owned(),
        expected: "root secret key (from `confidant admin init`)",
        error,
    })
}

fn check_program(program: &str) -> Result<(), CliError> {
    if is_tag(program) {
        Ok(())
    } else {
        Err(CliError::Invalid(format!(
            "--program {program:?}: program ids are 1-64 characters of a-z, 0-9 and -"
        )))
    }
}

fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_days(days: u64) -> Result<u64, CliError> {
    if days == 0 || days > 3_660 {
        return Err(CliError::Invalid(format!(
            "--days {days}: must be between 1 and 3660"
        )));
    }
    Ok(days * DAY)
}

fn issue(
    root_path: &Path,
    program: &str,
    days: u64,
    out: &Path,
    cert_out: Option<PathBuf>,
) -> Result<(), CliError> {
    check_program(program)?;
    let validity = check_days(days)?;
    let cert_path = cert_out.unwrap_or_else(|| sibling(out, "cert"));
    for path in [out, cert_path.as_path()] {
        if path.exists() {
            return Err(CliError::AlreadyExists(path.to_owned()));
        }
    }
    let root = load_root(root_path)?;
    let issuing = IssuingKey::generate()
        .map_err(|e| CliError::Invalid(format!("cannot generate a key: {e}")))?;
    let now = now();
    let certificate = IssuerCertificate::new(program, issuing.public(), now, now + validity)
        .sign(&root)
        .map_err(|error| CliError::Codec {
            what: "issuer certificate",
            error,
        })?;
    write_secret(out, &issuing.to_key_file())?;
    write_public_new(
        &cert_path,
        &encode_labelled(ISSUER_CERTIFICATE_LABEL, &[&certificate]),
    )?;
    println!("Issuing key written to {} (mode 0600).", out.display());
    println!(
        "Issuer certificate for {program:?}, valid {days} days, written to {}.",
        cert_path.display()
    );
    println!(
        "Issuing key id: {}",
        confidant_crypto::hex::encode(&issuing.key_id())
    );
    Ok(())
}

fn sign(args: &SignArgs) -> Result<(), CliError> {
    let validity = check_days(args.days)?;
    if args.out.exists() {
        return Err(CliError::AlreadyExists(args.out.clone()));
    }
    if args.name.trim().is_empty() {
        return Err(CliError::Invalid("--name must not be empty".to_owned()));
    }
    for (flag, tags) in [
        ("--role", std::slice::from_ref(&args.role)),
        ("--topics", args.topics.as_slice()),
        ("--languages", args.languages.as_slice()),
    ] {
        if let Some(bad) = tags.iter().find(|t| !is_tag(t)) {
            return Err(CliError::Invalid(format!(
                "{flag} {bad:?}: tags are 1-64 characters of a-z, 0-9 and -"
            )));
        }
    }
    let issuing =
        IssuingKey::from_key_file(&read_secret(&args.issuer)?).map_err(|error| CliError::Key {
            path: args.issuer.clone(),
            expected: "issuing secret key (from `confidant admin issue`)",
            error,
        })?;
    let cert_path = args
        .issuer_cert
        .clone()
        .unwrap_or_else(|| sibling(&args.issuer, "cert"));
    let issuer_certificate = decode_single(ISSUER_CERTIFICATE_LABEL, &read_text(&cert_path)?)
        .map_err(|error| CliError::FileFormat {
            path: cert_path.clone(),
            error,
        })?;
    let issuer = IssuerCertificate::decode_unverified(&issuer_certificate).map_err(|error| {
        CliError::Codec {
            what: "issuer certificate",
            error,
        }
    })?;
    if issuer.public_key != issuing.public() {
        return Err(CliError::Invalid(format!(
            "{}: this issuer certificate is for another issuing key",
            cert_path.display()
        )));
    }
    let department = args.department.trim();
    check_department(department, &issuer.program, args.programs.as_deref())?;
    let (public, mlkem768_public) = parse_request(&args.request)?;
    let now = now();
    let not_after = (now + validity).min(issuer.not_after);
    if not_after <= now {
        return Err(CliError::Invalid(
            "the issuer certificate has expired; issue a new issuing key".to_owned(),
        ));
    }
    let certificate = SupporterCertificate {
        program: issuer.program.clone(),
        issuer_key_id: issuing.key_id(),
        serial: args.serial,
        x25519_public: public,
        display_name: args.name.trim().to_owned(),
        role: args.role.clone(),
        department: department.to_owned(),
        topics: args.topics.clone(),
        languages: args.languages.clone(),
        not_before: now,
        not_after,
        mlkem768_public,
    }
    .sign(&issuing)
    .map_err(|error| CliError::Codec {
        what: "supporter certificate",
        error,
    })?;
    if certificate.len() > confidant_proto::limits::MAX_CERTIFICATE {
        // With the 1184-byte ML-KEM key, about 730 bytes remain for name, role, department,
        // topics and languages; the relay would refuse a larger certificate at `present`.
        return Err(CliError::Invalid(format!(
            "the certificate would be {} bytes, more than the protocol's {} (shorten the \
             name, department or the lists of topics and languages)",
            certificate.len(),
            confidant_proto::limits::MAX_CERTIFICATE
        )));
    }
    write_public_new(
        &args.out,
        &encode_credential(&issuer_certificate, &certificate),
    )?;
    println!(
        "Credential for {:?} (serial {}, program {:?}) written to {}.",
        args.name,
        args.serial,
        issuer.program,
        args.out.display()
    );
    if not_after < now + validity {
        println!("Note: validity capped at the issuer certificate's expiry.");
    }
    Ok(())
}

/// Longest department name a program may list (`docs/configuration.md`).
const MAX_DEPARTMENT_LEN: usize = 128;

/// A certificate names one of its program's departments, spelled as the program lists it:
/// the relay refuses any other at login (`proto/spec.md`, `present`), and a seeker can only
/// avoid a department it can pick. `programs`: the relay's `GET /v1/programs` answer (with
/// `program-details`); the entry for `program` holds the list. An empty list allows any.
fn check_department(
    department: &str,
    program: &str,
    programs: Option<&Path>,
) -> Result<(), CliError> {
    if department.is_empty() || department.len() > MAX_DEPARTMENT_LEN {
        return Err(CliError::Invalid(format!(
            "--department {department:?}: 1 to {MAX_DEPARTMENT_LEN} bytes"
        )));
    }
    let Some(path) = programs else {
        return Ok(());
    };
    let text = read_text(path)?;
    let listed: Vec<confidant_proto::ProgramInfo> = serde_json::from_str(&text).map_err(|e| {
        CliError::Invalid(format!(
            "{}: not a program list as GET /v1/programs?features=program-details answers ({e})",
            path.display()
        ))
    })?;
    let Some(info) = listed.iter().find(|p| p.id == program) else {
        return Err(CliError::Invalid(format!(
            "{}: program {program:?} (the issuer certificate's) is not in this list",
            path.display()
        )));
    };
    let departments = info.departments.as_deref().unwrap_or_default();
    if departments.is_empty() || departments.iter().any(|d| d == department) {
        return Ok(());
    }
    let close = departments
        .iter()
        .find(|d| d.to_lowercase() == department.to_lowercase())
        .map(|d| format!(" (did you mean {d:?}?)"))
        .unwrap_or_default();
    Err(CliError::Invalid(format!(
        "--department {department:?} is not one of program {program:?}'s departments{close}: {}; \
         the relay would refuse this credential",
        departments.join(", ")
    )))
}

/// A key request file (version 2 also carries the ML-KEM-768 key), 64 hex digits, or 32
/// bytes of base64 (an X25519 key alone).
fn parse_request(value: &str) -> Result<([u8; 32], Option<Vec<u8>>), CliError> {
    if let Some(key) = confidant_crypto::hex::decode::<32>(value) {
        return Ok((key, None));
    }
    if let Ok(bytes) = STANDARD.decode(value.trim())
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok((key, None));
    }
    let path = Path::new(value);
    if !path.exists() {
        return Err(CliError::Invalid(format!(
            "--request: not a public key (64 hex digits or base64) and no file named {value} \
             (`confidant keygen --out supporter.key` writes the request as supporter.request)"
        )));
    }
    decode_key_request_any(&read_text(path)?).map_err(|error| CliError::FileFormat {
        path: path.to_owned(),
        error,
    })
}

fn revoke(
    root_path: &Path,
    program: &str,
    serials: &[u64],
    issuer_key_ids: &[String],
    list_path: &Path,
    days: u64,
) -> Result<(), CliError> {
    check_program(program)?;
    let validity = check_days(days)?;
    let issuers = issuer_key_ids
        .iter()
        .map(|id| {
            confidant_crypto::hex::decode::<8>(id).ok_or_else(|| {
                CliError::Invalid(format!("--issuer-key-id {id:?}: expected 16 hex digits"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let root = load_root(root_path)?;
    let now = now();
    let previous = if list_path.exists() {
        let bytes =
            decode_single(REVOCATION_LIST_LABEL, &read_text(list_path)?).map_err(|error| {
                CliError::FileFormat {
                    path: list_path.to_owned(),
                    error,
                }
            })?;
        let unverified =
            RevocationList::decode_unverified(&bytes).map_err(|error| CliError::Codec {
                what: "existing revocation list",
                error,
            })?;
        // Check the existing list is ours (signature, program) before building on it;
        // judged at its own issue time so a stale list can still be superseded.
        let list = verify_revocation_list(&root.public(), program, &bytes, unverified.issued_at, 0)
            .map_err(|error| CliError::Credential {
                what: format!("{} (existing list)", list_path.display()),
                error,
            })?;
        Some(list)
    } else {
        None
    };
    let mut list = previous.clone().unwrap_or(RevocationList {
        program: program.to_owned(),
        sequence: 0,
        issued_at: now,
        next_update: now,
        revoked_serials: Vec::new(),
        revoked_issuers: Vec::new(),
    });
    list.sequence = list
        .sequence
        .checked_add(1)
        .ok_or_else(|| CliError::Invalid("revocation sequence exhausted".to_owned()))?;
    list.issued_at = now;
    list.next_update = now + validity;
    list.revoked_serials.extend_from_slice(serials);
    list.revoked_issuers.extend_from_slice(&issuers);
    list.normalize();
    let signed = list.sign(&root).map_err(|error| CliError::Codec {
        what: "revocation list",
        error,
    })?;
    replace_public(
        list_path,
        &encode_labelled(REVOCATION_LIST_LABEL, &[&signed]),
    )?;
    println!(
        "Revocation list for {program:?}: sequence {}, {} serial(s) and {} issuing key(s) revoked, next update in {days} day(s). Written to {}.",
        list.sequence,
        list.revoked_serials.len(),
        list.revoked_issuers.len(),
        list_path.display()
    );
    println!("Copy it to the relay (it reloads the file) and to every peer supporter.");
    Ok(())
}
