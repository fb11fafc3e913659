//! `mesh-probe URL [--cacert FILE] [--timeout 3s] [--insecure-skip-verify] [--retry N]`: GET URL, exit 0 on
//! a 2xx answer and 1 otherwise, printing one line saying why. See the library for details.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match mesh_probe::Options::parse(&args) {
        Ok(mesh_probe::Parsed::Run(opts)) => opts,
        Ok(mesh_probe::Parsed::Help) => {
            println!("{}", mesh_probe::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mesh-probe: {e}\n{}", mesh_probe::USAGE);
            return ExitCode::from(1);
        }
    };
    match mesh_probe::probe_with_retries(&opts) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(line) => {
            eprintln!("{line}");
            ExitCode::from(1)
        }
    }
}
