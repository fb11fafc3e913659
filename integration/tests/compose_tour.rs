//! The README's tour ("The tour: the whole mesh with Docker, as a user meets it"), run verbatim
//! against the compose stack: the shell blocks between `<!-- tour:begin -->` and
//! `<!-- tour:end -->` are concatenated and run by bash with `set -euo pipefail` from the
//! repository root, after the image is built from these very binaries. The tour checks itself
//! (`ok: ...` or `FAILED: ...` and a non-zero exit): every service healthy within 60 s, a
//! LoadBalancer Service's IP in metal-api, MetalLB's pool and the rule-compiler's ruleset, a
//! CSI volume through the volume-manager, a shoot of type metal becoming machines with Ignition
//! userdata, and metal-api back to its seed state once everything is deleted.
//!
//! Where `../shared/contracts` holds upstream's CRDs (CI), the image is built with them
//! (`build-image.sh --crds`), replacing the stand-ins of the same kinds, so MetalLB's, Gardener's,
//! MCM's and the firewall's schemas check what the controllers write.
//!
//! The tour uses compose's default project and ports (metal-api :8080, kube-api :6443, ...),
//! as a user would. The stack is torn down (`down -v`) whatever happens.
//!
//! Without a reachable Docker daemon, kubectl, jq or openssl the test fails when `CI` is set and
//! is skipped otherwise.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole tour, the image already built; it takes about two minutes on 2 cores.
const TOUR_TIMEOUT: Duration = Duration::from_secs(600);

fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The shell blocks of the README between the tour's markers, in order.
fn tour_script(readme: &str) -> String {
    let begin = readme
        .find("<!-- tour:begin -->")
        .expect("README has no <!-- tour:begin --> marker");
    let end = readme[begin..]
        .find("<!-- tour:end -->")
        .map(|i| begin + i)
        .expect("README has no <!-- tour:end --> after tour:begin");
    let mut script = String::new();
    let mut in_block = false;
    for line in readme[begin..end].lines() {
        match (in_block, line.trim_end()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, _) => {
                script.push_str(line);
                script.push('\n');
            }
            _ => {}
        }
    }
    assert!(!in_block, "an unclosed ```sh block in the tour");
    assert!(!script.is_empty(), "the tour has no ```sh blocks");
    script
}

/// Tears the default compose project down on drop, printing its logs first when the tour failed.
struct Teardown<'a> {
    compose: Vec<String>,
    root: &'a Path,
    failed: bool,
}

impl Teardown<'_> {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.compose[0])
            .args(&self.compose[1..])
            .args(["-f", "compose/docker-compose.yml"])
            .args(args)
            .current_dir(self.root)
            .stdin(Stdio::null())
            .output()
            .expect("run compose")
    }
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        if self.failed || std::thread::panicking() {
            let logs = self.run(&["logs", "--no-color", "--tail", "80"]);
            eprintln!(
                "--- compose logs ---\n{}",
                String::from_utf8_lossy(&logs.stdout)
            );
        }
        let down = self.run(&["down", "-v", "--remove-orphans"]);
        if !down.status.success() {
            eprintln!(
                "compose down failed: {}",
                String::from_utf8_lossy(&down.stderr)
            );
        }
    }
}

#[test]
fn the_readme_tour_runs_verbatim_against_compose() {
    let root = integration::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    let script = tour_script(&readme);

    let missing: Vec<&str> = [
        ("docker", &["info"][..]),
        ("kubectl", &["version", "--client"][..]),
        ("jq", &["--version"][..]),
        ("openssl", &["version"][..]),
        ("curl", &["--version"][..]),
    ]
    .into_iter()
    .filter(|(program, args)| !works(program, args))
    .map(|(program, _)| program)
    .collect();
    let compose = integration::compose_command();
    if !missing.is_empty() || compose.is_none() {
        let reason = format!("missing {missing:?} (compose found: {})", compose.is_some());
        assert!(
            !integration::in_ci(),
            "{reason} (CI is set, so this is a failure)"
        );
        eprintln!("SKIPPED the compose tour: {reason}");
        return;
    }

    // The image, from these very binaries (built now if stale), as compose.rs builds it; with
    // upstream's CRDs where `../shared/contracts` has them (CI), so what the controllers write
    // meets upstream's schemas rather than the stand-ins' anything-goes.
    integration::binary("metal-api");
    let mut build = Command::new("bash");
    build.arg(root.join("compose/build-image.sh"));
    match kube_resources::contracts::upstream_crds() {
        Some(dir) => {
            eprintln!("upstream CRDs from {}", dir.display());
            build.arg("--crds").arg(dir);
        }
        None => eprintln!("NOTE: no upstream CRDs; the tour runs on the stand-ins alone"),
    }
    let built = build
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .expect("run compose/build-image.sh");
    assert!(
        built.status.success(),
        "compose/build-image.sh failed ({}):\n{}{}",
        built.status,
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );

    let mut teardown = Teardown {
        compose: compose.unwrap(),
        root: &root,
        failed: false,
    };
    let start = Instant::now();
    let mut child = Command::new("bash")
        .args(["-c", &format!("set -euo pipefail\n{script}")])
        .current_dir(&root)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the tour with bash");
    // Read both pipes on threads so neither fills up while the tour runs.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the tour") {
            break Some(status);
        }
        if start.elapsed() > TOUR_TIMEOUT {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    eprintln!("--- tour stdout ---\n{stdout}--- tour stderr ---\n{stderr}");
    teardown.failed = !status.is_some_and(|s| s.success());
    let status =
        status.unwrap_or_else(|| panic!("the tour did not finish within {TOUR_TIMEOUT:?}"));
    assert!(status.success(), "the tour failed ({status})");

    // What the tour checked, by its own account (each check printed `ok: ...`).
    for check in [
        "ok: every service healthy",
        "ok: Service web has a load-balancer IP",
        "ok: MetalLB's IPAddressPool holds",
        "ok: the rule-compiler's ruleset admits",
        "ok: the volume-manager's volume group",
        "ok: the volume-manager lists",
        "ok: two machines allocated with Ignition userdata",
        "ok: metal-api back to its seed state",
    ] {
        assert!(stdout.contains(check), "the tour did not report {check:?}");
    }
    eprintln!("the tour passed in {:?}", start.elapsed());
}

#[test]
fn the_tour_script_is_every_sh_block_between_the_markers() {
    let readme = "intro\n```sh\nnot this\n```\n<!-- tour:begin -->\ntext\n```sh\na\nb\n```\n\
                  more\n```yaml\nnot: this\n```\n```sh\nc\n```\n<!-- tour:end -->\n```sh\nnor this\n```\n";
    assert_eq!(tour_script(readme), "a\nb\nc\n");
}
