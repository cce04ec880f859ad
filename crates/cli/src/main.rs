//! `confidant`: seek support, serve as a peer supporter, or administer a program.
//! A thin shell over the `confidant_cli` library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = confidant_cli::Cli::parse();
    match confidant_cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("confidant: error: {error}");
            ExitCode::FAILURE
        }
    }
}
