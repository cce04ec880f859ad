//! Process hardening at start-up: no core dumps, not dumpable (no ptrace by same-uid
//! processes, `/proc/<pid>/mem` and `environ` closed), memory locked where allowed so
//! nothing of a chat's metadata reaches swap, and a loud warning when run as root.
//! Every step that fails warns and goes on: `--dev` must run anywhere.

use rustix::mm::{MlockAllFlags, mlockall};
use rustix::process::{DumpableBehavior, Resource, Rlimit, geteuid, getrlimit, setrlimit};

/// What hardening achieved, for the start-up log line.
#[derive(Debug)]
pub(crate) struct Hardening {
    pub(crate) not_dumpable: bool,
    pub(crate) no_core: bool,
    pub(crate) memory_locked: bool,
    /// Why memory is not locked, when it was asked for.
    pub(crate) memory_note: Option<String>,
    pub(crate) root: bool,
}

/// Applies everything it can. `lock_memory`: try `mlockall`.
pub(crate) fn harden(lock_memory: bool) -> Hardening {
    let not_dumpable =
        rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable).is_ok();
    let no_core = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .is_ok();
    let root = geteuid().is_root();
    let (memory_locked, memory_note) = if lock_memory {
        match try_lock_memory(root) {
            Ok(()) => (true, None),
            Err(note) => (false, Some(note)),
        }
    } else {
        (false, None)
    };
    Hardening {
        not_dumpable,
        no_core,
        memory_locked,
        memory_note,
        root,
    }
}

/// Locks current and future pages, but only when the memlock limit cannot make a later
/// allocation fail (unlimited, or root): with a small `RLIMIT_MEMLOCK`, `MCL_FUTURE` would
/// turn growth past the limit into allocation failures. Otherwise warns how to allow it.
fn try_lock_memory(root: bool) -> Result<(), String> {
    let limit = getrlimit(Resource::Memlock);
    if !root && let Some(bytes) = limit.current {
        return Err(format!(
            "RLIMIT_MEMLOCK is {bytes} bytes (set LimitMEMLOCK=infinity, or lock_memory = false to silence this)"
        ));
    }
    mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE | MlockAllFlags::ONFAULT)
        .map_err(|error| format!("mlockall failed: {error}"))
}

/// Logs the outcome; warns loudly when running as root.
/// `plain_stderr`: also print the root warning as a plain line (not with JSON logs, whose
/// stream must stay one JSON object per line).
pub(crate) fn report(hardening: &Hardening, dev: bool, plain_stderr: bool) {
    tracing::info!(
        kind = "hardening",
        not_dumpable = hardening.not_dumpable,
        core_dumps_off = hardening.no_core,
        memory_locked = hardening.memory_locked,
        "process hardening applied"
    );
    if let Some(note) = &hardening.memory_note {
        tracing::warn!(kind = "memory_not_locked", "memory not locked: {note}");
    }
    if hardening.root {
        let advice = if dev {
            "fine for a quick --dev try-out"
        } else {
            "run it as an unprivileged user (see deploy/confidant-relay.service)"
        };
        tracing::warn!(
            kind = "running_as_root",
            "RUNNING AS ROOT: the relay needs no privileges; {advice}"
        );
        if plain_stderr {
            eprintln!("confidant-relay: WARNING: running as root — {advice}");
        }
    }
}
