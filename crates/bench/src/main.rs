//! `confidant-bench`: the load generator (its scenarios are in the library).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    confidant_bench::main()
}
