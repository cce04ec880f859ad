//! `confidant-bench`: the load generator (the same code as `confidant bench`).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    confidant_bench::main()
}
