//! `metal-mesh up`: state in `./.metal-mesh/`, HMAC keys generated on first start and kept
//! in `hmac-keys.env`, the embedded seed written to `seed.yaml` (edit it to change the
//! inventory), then the metal-api served until SIGTERM/SIGINT.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mesh_runtime::RuntimeArgs;
use rand::RngExt;
use rand::distr::Alphanumeric;

/// The seed compiled into the binary: one partition with 16 machines (compose/seed.yaml).
const EMBEDDED_SEED: &str = include_str!("../../../compose/seed.yaml");

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// Where the mesh keeps its state (database, keys, seed).
    #[arg(long, default_value = ".metal-mesh")]
    pub state_dir: PathBuf,
    /// Seed file; defaults to STATE_DIR/seed.yaml, written from the embedded seed on first start.
    #[arg(long)]
    pub seed: Option<PathBuf>,
}

/// The three metal-api HMAC keys.
struct Keys {
    view: String,
    edit: String,
    admin: String,
}

const KEY_VARS: [&str; 3] = [
    "METAL_API_HMAC_VIEW_KEY",
    "METAL_API_HMAC_EDIT_KEY",
    "METAL_API_HMAC_ADMIN_KEY",
];

fn random_key() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Reads `hmac-keys.env`, or writes new random keys there on first start.
fn keys(path: &Path) -> anyhow::Result<(Keys, bool)> {
    if let Ok(text) = fs::read_to_string(path) {
        let value = |var: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(var)?.strip_prefix('=').map(str::to_string))
                .with_context(|| format!("{var} missing in {}", path.display()))
        };
        let keys = Keys {
            view: value(KEY_VARS[0])?,
            edit: value(KEY_VARS[1])?,
            admin: value(KEY_VARS[2])?,
        };
        return Ok((keys, false));
    }
    let keys = Keys {
        view: random_key(),
        edit: random_key(),
        admin: random_key(),
    };
    let text = format!(
        "# metal-api HMAC keys of this metal-mesh (generated on first start)\n{}={}\n{}={}\n{}={}\n",
        KEY_VARS[0], keys.view, KEY_VARS[1], keys.edit, KEY_VARS[2], keys.admin
    );
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok((keys, true))
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating {}", args.state_dir.display()))?;
    let (keys, generated) = keys(&args.state_dir.join("hmac-keys.env"))?;
    let seed = match args.seed {
        Some(seed) => seed,
        None => {
            let path = args.state_dir.join("seed.yaml");
            if !path.exists() {
                fs::write(&path, EMBEDDED_SEED)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            path
        }
    };
    let listen = args.runtime.listen;
    println!("metal-mesh up");
    println!("  metal-api   http://{listen}  (docs http://{listen}/docs, metrics /metrics)");
    println!("  state       {}", args.state_dir.display());
    println!("  seed        {}", seed.display());
    println!(
        "  hmac keys   {} ({})",
        args.state_dir.join("hmac-keys.env").display(),
        if generated {
            "generated now"
        } else {
            "kept from an earlier start"
        }
    );
    println!(
        "              Metal-View={}  Metal-Edit={}  Metal-Admin={}",
        keys.view, keys.edit, keys.admin
    );
    let metal_api_args = metal_api::Args {
        runtime: args.runtime.clone(),
        data_dir: args.state_dir.join("metal-api"),
        seed: Some(seed),
        base_path: "/".into(),
        hmac_view_key: keys.view,
        hmac_edit_key: keys.edit,
        hmac_admin_key: keys.admin,
        hmac_lifetime: std::time::Duration::from_secs(30),
    };
    mesh_runtime::run(metal_api::INFO, args.runtime, move |setup| {
        metal_api::start(metal_api_args, setup)
    })
}
