//! The API credential of `metal-mesh up`: one admin bearer token, generated on first start into
//! `STATE_DIR/api-token`, with the static token file and allow file every service is started
//! with (`api-tokens.csv`, `api-allow.yaml`). Both files are written once and then left to the
//! operator: add lines to give more people their own tokens and rights.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mesh_runtime::auth::{AuthArgs, AuthMode};

/// The group of the generated admin token; the allow file grants it every verb on every path.
const ADMIN_GROUP: &str = "metal-mesh:admins";

/// What `up` gives every service, and what it prints.
pub struct ApiCredentials {
    /// The admin token, when `up` made the credentials (not when the operator chose `--auth`).
    pub token: Option<String>,
    /// Where the token is, for the printed curl example.
    pub token_path: PathBuf,
    pub generated: bool,
    pub auth: AuthArgs,
}

/// With `--auth` given to `up`, the operator's choice stands for every service; otherwise static
/// tokens from the state directory, the admin token generated on first start.
pub fn api_credentials(state_dir: &Path, given: &AuthArgs) -> anyhow::Result<ApiCredentials> {
    let token_path = state_dir.join("api-token");
    if given.mode.is_some() {
        return Ok(ApiCredentials {
            token: None,
            token_path,
            generated: false,
            auth: given.clone(),
        });
    }
    let (token, generated) = match fs::read_to_string(&token_path) {
        Ok(text) => {
            let token = text.trim().to_string();
            anyhow::ensure!(
                !token.is_empty() && !token.contains(','),
                "{} holds no usable token: remove it to have a new one generated",
                token_path.display()
            );
            (token, false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = crate::up::random_key(48);
            write_private(&token_path, &format!("{token}\n"))?;
            (token, true)
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", token_path.display())),
    };
    let token_file = given
        .auth_token_file
        .clone()
        .unwrap_or_else(|| state_dir.join("api-tokens.csv"));
    let allow_file = given
        .auth_allow
        .clone()
        .unwrap_or_else(|| state_dir.join("api-allow.yaml"));
    if given.auth_token_file.is_none() && (generated || !token_file.exists()) {
        write_private(
            &token_file,
            &format!(
                "# token,user,uid,\"groups\" (kube-apiserver's static token file format)\n\
                 {token},admin,metal-mesh-admin,\"{ADMIN_GROUP}\"\n"
            ),
        )?;
    }
    if given.auth_allow.is_none() && !allow_file.exists() {
        write_private(
            &allow_file,
            &format!(
                "# Who may do what: users or groups, path prefixes, verbs (get, create, update,\n\
                 # delete or *). Restart metal-mesh up after a change.\n\
                 - groups: [\"{ADMIN_GROUP}\"]\n  paths: [/]\n  verbs: [\"*\"]\n"
            ),
        )?;
    }
    let mut auth = given.clone();
    auth.mode = Some(AuthMode::Static);
    auth.auth_token_file = Some(token_file);
    auth.auth_allow = Some(allow_file);
    Ok(ApiCredentials {
        token: Some(token),
        token_path,
        generated,
        auth,
    })
}

/// Writes a secret file readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_runtime::auth::static_files::{AllowRules, StaticTokens};

    fn no_flags() -> AuthArgs {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            auth: AuthArgs,
        }
        mesh_runtime::try_parse_args_from::<Flags, _, _>("CREDENTIALS_TEST", ["up"])
            .unwrap()
            .auth
    }

    #[test]
    fn the_first_start_generates_a_token_the_files_accept_and_later_starts_keep_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = api_credentials(dir.path(), &no_flags()).unwrap();
        assert!(first.generated);
        let token = first.token.clone().unwrap();
        assert!(token.len() >= 32);
        assert_eq!(first.auth.mode, Some(AuthMode::Static));
        let tokens =
            StaticTokens::parse(&fs::read_to_string(first.auth.auth_token_file.unwrap()).unwrap())
                .unwrap();
        let admin = tokens
            .lookup(&token)
            .expect("the token is in the token file");
        let allow = AllowRules::parse(&fs::read_to_string(first.auth.auth_allow.unwrap()).unwrap())
            .unwrap();
        assert!(allow.allows(admin, "create", "/v1/loadbalancers"));
        assert!(allow.allows(admin, "get", "/metrics"));
        let mode = fs::metadata(&first.token_path).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );

        let again = api_credentials(dir.path(), &no_flags()).unwrap();
        assert!(!again.generated);
        assert_eq!(again.token.unwrap(), token);
    }

    #[test]
    fn an_operators_auth_choice_is_kept_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let mut given = no_flags();
        given.mode = Some(AuthMode::Kubernetes);
        let creds = api_credentials(dir.path(), &given).unwrap();
        assert_eq!(creds.auth.mode, Some(AuthMode::Kubernetes));
        assert!(creds.token.is_none());
        assert!(!dir.path().join("api-token").exists());
    }

    #[test]
    fn an_unusable_token_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("api-token"), "\n").unwrap();
        let err = api_credentials(dir.path(), &no_flags())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("api-token"), "{err}");
    }
}
