//! Runs the table and the scenarios against a target and collects what passed.

use serde_json::{Value, json};

use crate::Target;
use crate::cases::{Case, Expect, PROGRAM, Payload, Start, hello, hello_with, probe_end, table};
use crate::scenarios;
use crate::wire::{Received, Wire};

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The relay answered as the spec demands.
    Pass,
    /// It did not; what it did instead.
    Fail(String),
    /// Not run (e.g. no credential given for a peer check).
    Skipped(String),
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The check.
    pub name: String,
    /// Where its rule is in `proto/spec.md`.
    pub spec: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// Every check's result.
#[derive(Debug, Default)]
pub struct Report {
    /// In the order they ran.
    pub checks: Vec<Checked>,
}

impl Report {
    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Checked> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Fail(_)))
            .collect()
    }

    /// Counts of passed, failed and skipped checks.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for check in &self.checks {
            match check.outcome {
                Outcome::Pass => counts.0 += 1,
                Outcome::Fail(_) => counts.1 += 1,
                Outcome::Skipped(_) => counts.2 += 1,
            }
        }
        counts
    }

    /// A line per check, then the totals.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let (mark, detail) = match &check.outcome {
                Outcome::Pass => ("pass", String::new()),
                Outcome::Fail(why) => ("FAIL", format!("\n      {why}")),
                Outcome::Skipped(why) => ("skip", format!(" ({why})")),
            };
            out.push_str(&format!(
                "{mark}  {} [spec: {}]{detail}\n",
                check.name, check.spec
            ));
        }
        let (pass, fail, skip) = self.counts();
        out.push_str(&format!(
            "conformance: {pass} passed, {fail} failed, {skip} skipped\n"
        ));
        out
    }
}

/// Runs every check that `target.only` selects.
pub async fn run(target: &Target) -> Report {
    let mut report = Report::default();
    let selected = |name: &str| target.only.as_ref().is_none_or(|only| name.contains(only));
    for case in table() {
        if !selected(case.name) {
            continue;
        }
        let outcome = if case.start == Start::PeerVerified && target.peer.is_none() {
            Outcome::Skipped("needs a supporter credential".to_owned())
        } else {
            match run_case(target, &case).await {
                Ok(()) => Outcome::Pass,
                Err(why) => Outcome::Fail(why),
            }
        };
        report.checks.push(Checked {
            name: case.name.to_owned(),
            spec: case.spec.to_owned(),
            outcome,
        });
    }
    for scenario in scenarios::all() {
        if !selected(scenario.name) {
            continue;
        }
        let outcome = match &target.peer {
            None => Outcome::Skipped("needs a supporter credential".to_owned()),
            Some(peer) => {
                match (scenario.run)(target.url.clone(), target.program.clone(), peer).await {
                    Ok(()) => Outcome::Pass,
                    Err(why) => Outcome::Fail(why),
                }
            }
        };
        report.checks.push(Checked {
            name: scenario.name.to_owned(),
            spec: scenario.spec.to_owned(),
            outcome,
        });
    }
    report
}

async fn run_case(target: &Target, case: &Case) -> Result<(), String> {
    let mut wire = start(target, case.start).await?;
    match (case.send)() {
        Payload::Text(text) => wire.text(text.replace(PROGRAM, &target.program)).await?,
        Payload::Binary(bytes) => wire.binary(bytes).await?,
    }
    let result = check(&mut wire, case.start, &case.expect, &target.program).await;
    wire.close().await;
    result
}

/// Opens a connection and brings it to `start`.
async fn start(target: &Target, start: Start) -> Result<Wire, String> {
    match start {
        Start::Connected => Wire::connect(&target.url).await,
        Start::SeekerIdle | Start::SeekerWithFeatures | Start::PeerUnverified => {
            let mut wire = Wire::connect(&target.url).await?;
            let role = if start == Start::PeerUnverified {
                "peer"
            } else {
                "seeker"
            };
            let extra = if start == Start::SeekerWithFeatures {
                json!({"features": []})
            } else {
                json!({})
            };
            wire.frame(&hello_with(role, &target.program, &extra))
                .await?;
            wire.expect("welcome").await?;
            Ok(wire)
        }
        Start::PeerVerified => {
            let peer = target
                .peer
                .as_ref()
                .ok_or_else(|| "needs a supporter credential".to_owned())?;
            peer.log_in(&target.url, &target.program, &json!({})).await
        }
    }
}

/// Sends the state's probe and checks that its answer is the next thing received: proof that
/// the connection goes on and that nothing else was sent in between.
async fn probe(wire: &mut Wire, start: Start, program: &str) -> Result<(), String> {
    if start == Start::Connected {
        wire.frame(&hello("seeker", program)).await?;
        let received = wire.next().await;
        return match received.kind() {
            Some("welcome") => Ok(()),
            _ => Err(format!(
                "the connection should go on (hello → welcome), got {}",
                received.describe()
            )),
        };
    }
    wire.frame(&probe_end()).await?;
    let received = wire.next().await;
    match received.error_code() {
        Some("unknown_chat") => Ok(()),
        _ => Err(format!(
            "expected only the probe's answer (error unknown_chat), got {}",
            received.describe()
        )),
    }
}

async fn check(
    wire: &mut Wire,
    start: Start,
    expect: &Expect,
    program: &str,
) -> Result<(), String> {
    match expect {
        Expect::Fatal(code, close) => {
            let received = wire.next().await;
            if received.error_code() != Some(code) {
                return Err(format!(
                    "expected error {code}, got {}",
                    received.describe()
                ));
            }
            match wire.next().await {
                Received::Closed(Some(got)) if got == *close => Ok(()),
                other => Err(format!("expected close {close}, got {}", other.describe())),
            }
        }
        Expect::Continues(code) => {
            let received = wire.next().await;
            if received.error_code() != Some(code) {
                return Err(format!(
                    "expected error {code}, got {}",
                    received.describe()
                ));
            }
            probe(wire, start, program).await
        }
        Expect::Silent => probe(wire, start, program).await,
        Expect::Welcome(features) => {
            let received = wire.next().await;
            let Received::Frame(frame) = &received else {
                return Err(format!("expected welcome, got {}", received.describe()));
            };
            if received.kind() != Some("welcome") {
                return Err(format!("expected welcome, got {}", received.describe()));
            }
            let got = frame.get("features");
            let want = features.map(|names| json!(names));
            if got != want.as_ref() {
                return Err(format!(
                    "welcome.features should be {}, got {}",
                    want.map_or("absent".to_owned(), |v| v.to_string()),
                    got.map_or("absent".to_owned(), Value::to_string)
                ));
            }
            // The program description carries the details exactly with `program-details`.
            let details = features.is_some_and(|names| names.contains(&"program-details"));
            let program = frame.get("program").and_then(Value::as_object);
            for member in ["emergency", "confidentiality", "departments", "labels"] {
                let present = program.is_some_and(|p| p.contains_key(member));
                if present != details {
                    return Err(format!(
                        "welcome.program.{member} should be {} here",
                        if details { "present" } else { "absent" }
                    ));
                }
            }
            Ok(())
        }
    }
}
