//! `confidant bench`: the load generator behind the `confidant` binary. Its servers run as
//! children of `confidant` itself (`confidant bench serve-relay …`), so one tiny scenario
//! proves the whole path.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

fn confidant(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_confidant"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn bench_help_lists_the_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let output = confidant(&["bench", "--help"], dir.path());
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for scenario in [
        "throughput",
        "latency",
        "setup",
        "idle",
        "churn",
        "cluster",
        "smoke",
    ] {
        assert!(help.contains(scenario), "{scenario} missing from {help}");
    }
    assert!(
        !help.contains("serve-relay"),
        "hidden subcommands are hidden"
    );
}

#[test]
fn bench_runs_a_tiny_setup_scenario_against_relay_and_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = confidant(
        &[
            "bench",
            "setup",
            "--sessions",
            "10",
            "--concurrency",
            "4",
            "--repeat",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench setup failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("relay / baseline"), "{stdout}");
    assert!(out.join("setup.csv").exists());
}
