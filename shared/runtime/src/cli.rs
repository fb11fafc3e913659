//! Command-line flags shared by every service, and flag parsing where each flag can also come
//! from the environment (Helm and compose pass configuration both ways).

use std::{ffi::OsString, net::SocketAddr, time::Duration};

use clap::{ArgAction, Command, Parser};

use crate::{auth::AuthArgs, tls::TlsArgs};

/// Flags every service binary flattens into its own `clap::Parser`.
#[derive(clap::Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// HTTP listen address of the service (API, /metrics, /healthz, /readyz, /openapi.json, /docs)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Log line format
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter directives); RUST_LOG overrides it when set
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// OTLP gRPC endpoint for trace export, e.g. http://otel-collector:4317; no export when unset
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Number of HTTP worker threads; 0 means one per CPU core
    #[arg(long, default_value_t = 0)]
    pub http_workers: usize,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// Format of the log lines written to stdout.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, one line per event.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Parses a human duration such as `30s`, `1m 30s` or `250ms`.
pub fn parse_duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}

/// Parses the process arguments into `T`, where every long flag can also be given as the
/// environment variable `<PREFIX>_<FLAG>` (upper-cased, `-` becomes `_`): with prefix
/// `METAL_API`, `--hmac-view-key` is also read from `METAL_API_HMAC_VIEW_KEY`. A flag on the
/// command line beats the environment; flags that declare their own `env` keep it.
/// Exits the process with clap's usage message on bad input, like `T::parse()`.
pub fn parse_args<T: Parser>(env_prefix: &str) -> T {
    try_parse_args_from(env_prefix, std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// Like [`parse_args`], with explicit arguments (the first one is the binary name) and the
/// error returned instead of exiting.
pub fn try_parse_args_from<T, I, S>(env_prefix: &str, args: I) -> Result<T, clap::Error>
where
    T: Parser,
    I: IntoIterator<Item = S>,
    S: Into<OsString> + Clone,
{
    let mut command = with_env_fallbacks(T::command(), env_prefix);
    let mut matches = command.try_get_matches_from_mut(args)?;
    T::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))
}

/// Gives each long flag of `command` (not of its subcommands) an environment fallback.
fn with_env_fallbacks(command: Command, env_prefix: &str) -> Command {
    command.mut_args(|arg| {
        let is_meta = matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        );
        match arg.get_long() {
            Some(long) if !is_meta && arg.get_env().is_none() => {
                let var = format!("{env_prefix}_{}", long.to_uppercase().replace('-', "_"));
                arg.env(var)
            }
            _ => arg,
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[derive(Parser, Debug)]
    struct Args {
        #[command(flatten)]
        runtime: RuntimeArgs,
        #[arg(long)]
        hmac_view_key: Option<String>,
        #[arg(long, env = "CUSTOM_TOKEN")]
        token: Option<String>,
        #[arg(long)]
        verbose: bool,
    }

    fn parse(prefix: &str, args: &[&str]) -> Result<Args, clap::Error> {
        try_parse_args_from(prefix, std::iter::once("svc").chain(args.iter().copied()))
    }

    #[test]
    fn long_flags_get_prefixed_env_names_and_explicit_env_is_kept() {
        let command = with_env_fallbacks(Args::command(), "METAL_API");
        let env_of = |id: &str| {
            let arg = command.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_env().map(|e| e.to_string_lossy().into_owned())
        };
        assert_eq!(
            env_of("hmac_view_key").as_deref(),
            Some("METAL_API_HMAC_VIEW_KEY")
        );
        assert_eq!(
            env_of("shutdown_timeout").as_deref(),
            Some("METAL_API_SHUTDOWN_TIMEOUT")
        );
        assert_eq!(env_of("token").as_deref(), Some("CUSTOM_TOKEN"));
    }

    #[test]
    fn defaults_apply_without_flags_or_env() {
        let args = parse("CLI_TEST_DEFAULTS", &[]).unwrap();
        assert_eq!(args.runtime.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.runtime.log_format, LogFormat::Text);
        assert_eq!(args.runtime.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(args.runtime.http_workers, 0);
        assert!(args.hmac_view_key.is_none());
    }

    #[test]
    fn duration_parsing_accepts_human_units_and_rejects_garbage() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
        let err = parse("CLI_TEST_DUR", &["--shutdown-timeout", "forever"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
