//! The `hangar` command: argument parsing and one library call.

use clap::Parser;

fn main() {
    let cli = hangar_host::cli::Cli::parse();
    if let Err(e) = hangar_host::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
