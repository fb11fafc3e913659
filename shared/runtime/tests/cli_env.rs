//! Environment fallbacks of `try_parse_args_from`. Setting variables in this process would need
//! `unsafe` (`std::env::set_var` in edition 2024), so each case re-runs this test binary as a
//! child with the variables set, and the child prints what it parsed.

use std::process::Command;

use clap::Parser;
use mesh_runtime::{RuntimeArgs, try_parse_args_from};

#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    runtime: RuntimeArgs,
    #[arg(long)]
    hmac_view_key: Option<String>,
    #[arg(long, env = "CLI_ENV_TEST_CUSTOM_TOKEN")]
    token: Option<String>,
}

const PREFIX: &str = "CLI_ENV_TEST";
/// Space-separated command line for the child to parse.
const ARGV_VAR: &str = "CLI_ENV_TEST_CHILD_ARGV";

#[test]
#[ignore = "helper run in a child process by the other tests"]
fn child_parses_and_prints() {
    let Ok(argv) = std::env::var(ARGV_VAR) else {
        return; // only meaningful as the child of `parse_in_child`
    };
    let argv = std::iter::once("svc").chain(argv.split_whitespace());
    match try_parse_args_from::<Args, _, _>(PREFIX, argv) {
        Ok(args) => {
            println!("@listen={}", args.runtime.listen);
            println!("@shutdown_timeout={:?}", args.runtime.shutdown_timeout);
            println!("@hmac_view_key={:?}", args.hmac_view_key);
            println!("@token={:?}", args.token);
        }
        Err(e) => println!("@error={:?}", e.kind()),
    }
}

/// Parses `argv` in a child whose environment has `env` (and none of our variables otherwise);
/// returns the printed `@key=value` lines.
fn parse_in_child(env: &[(&str, &str)], argv: &str) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "child_parses_and_prints",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ARGV_VAR, argv);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with(PREFIX) && k != ARGV_VAR) {
        child.env_remove(key);
    }
    child.envs(env.iter().copied());
    let output = child.output().unwrap();
    assert!(output.status.success(), "child failed: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        // The harness may print "test … ... " on the same line before the first `@`.
        .filter_map(|l| l.split_once('@').map(|(_, kv)| kv.to_owned()))
        .collect()
}

#[test]
fn flag_comes_from_prefixed_env_var() {
    let parsed = parse_in_child(
        &[
            ("CLI_ENV_TEST_HMAC_VIEW_KEY", "from-env"),
            ("CLI_ENV_TEST_LISTEN", "0.0.0.0:9090"),
            ("CLI_ENV_TEST_SHUTDOWN_TIMEOUT", "5s"),
        ],
        "",
    );
    assert_eq!(
        parsed,
        [
            "listen=0.0.0.0:9090",
            "shutdown_timeout=5s",
            "hmac_view_key=Some(\"from-env\")",
            "token=None",
        ]
    );
}

#[test]
fn command_line_flag_beats_env_var() {
    let parsed = parse_in_child(
        &[
            ("CLI_ENV_TEST_HMAC_VIEW_KEY", "from-env"),
            ("CLI_ENV_TEST_LISTEN", "0.0.0.0:9090"),
        ],
        "--hmac-view-key from-flag",
    );
    assert!(
        parsed.contains(&"hmac_view_key=Some(\"from-flag\")".to_owned()),
        "{parsed:?}"
    );
    assert!(
        parsed.contains(&"listen=0.0.0.0:9090".to_owned()),
        "{parsed:?}"
    );
}

#[test]
fn explicitly_declared_env_is_kept_instead_of_the_prefixed_one() {
    let parsed = parse_in_child(
        &[
            ("CLI_ENV_TEST_CUSTOM_TOKEN", "custom"),
            ("CLI_ENV_TEST_TOKEN", "prefixed"),
        ],
        "",
    );
    assert!(
        parsed.contains(&"token=Some(\"custom\")".to_owned()),
        "{parsed:?}"
    );

    let parsed = parse_in_child(&[("CLI_ENV_TEST_TOKEN", "prefixed")], "");
    assert!(parsed.contains(&"token=None".to_owned()), "{parsed:?}");
}

#[test]
fn invalid_env_value_is_a_validation_error() {
    let parsed = parse_in_child(&[("CLI_ENV_TEST_SHUTDOWN_TIMEOUT", "soon")], "");
    assert_eq!(parsed, ["error=ValueValidation"]);
}
