//! How long the compose stack takes from `up -d` until every service's healthcheck says
//! healthy (issue 17's target: < 60 s on 2 cores, from built images), against a baseline in the
//! same run: one container of the same image started and run to its end (`docker run --rm`
//! with the image's mesh-probe against a closed port), which is what Docker itself costs per
//! container. Each round uses a project of its own on free loopback ports and ends with
//! `down -v`.
//!
//! Needs the image (`compose/build-image.sh`), Docker and docker-compose (or `docker compose`).
//! Run: `cargo run --release -p integration --bin compose-bench -- [ROUNDS]`

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "metal-mesh:dev";
const TIMEOUT: Duration = Duration::from_secs(120);
/// The compose file's host-port settings, each given a free port so a running stack is no
/// obstacle.
const PORTS: &[&str] = &[
    "METAL_API_HOST_PORT",
    "LB_ALLOCATOR_HOST_PORT",
    "RULE_COMPILER_HOST_PORT",
    "VOLUME_MANAGER_HOST_PORT",
    "MACHINE_LIFECYCLE_HOST_PORT",
    "KUBE_API_HOST_PORT",
    "GARDENER_WEBHOOKS_HOST_PORT",
];

fn output(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("run a command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One compose project: `up -d` until every container is healthy; the elapsed time.
fn stack_round(compose: &[String], round: usize) -> Duration {
    let root = integration::workspace_root();
    let project = format!("mmbench{}x{round}", std::process::id());
    let env: Vec<(String, String)> = PORTS
        .iter()
        .map(|name| {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            (name.to_string(), port.to_string())
        })
        .chain([
            ("VOLUME_MANAGER_VG_NAME".into(), project.clone()),
            ("VOLUME_MANAGER_LOOP_SIZE".into(), "256M".into()),
        ])
        .collect();
    let run = |args: &[&str]| {
        output(
            Command::new(&compose[0])
                .args(&compose[1..])
                .args(["-f", "compose/docker-compose.yml", "-p", &project])
                .args(args)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .current_dir(&root),
        )
    };
    let start = Instant::now();
    run(&["up", "-d", "--no-build"]);
    let ids: Vec<String> = run(&["ps", "-q"])
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let elapsed = loop {
        let states = output(
            Command::new("docker")
                .args(["inspect", "--format", "{{.State.Health.Status}}"])
                .args(&ids),
        );
        if states.lines().all(|s| s.trim() == "healthy") {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "not healthy within {TIMEOUT:?}: {states}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("  {} containers healthy", ids.len());
    run(&["down", "-v"]);
    elapsed
}

/// One container of the image, started and run to its end.
fn baseline_round() -> Duration {
    let start = Instant::now();
    let status = Command::new("docker")
        .args(["run", "--rm", "--network", "none", IMAGE])
        .args(["mesh-probe", "http://127.0.0.1:9/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("docker run");
    // mesh-probe fails (nothing listens): the container ran, which is all that is timed.
    assert_eq!(status.code(), Some(1), "docker run {IMAGE}: {status}");
    start.elapsed()
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROUNDS is a number"))
        .unwrap_or(3);
    let compose = integration::compose_command()
        .expect("neither docker-compose nor `docker compose` is installed");
    let (mut stack, mut baseline) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let b = baseline_round();
        let s = stack_round(&compose, round);
        eprintln!("round {round}: stack healthy {s:.2?}, one container {b:.2?}");
        stack.push(s);
        baseline.push(b);
    }
    let (s, b) = (median(stack.clone()), median(baseline));
    println!(
        "compose up → every service healthy: median {s:.2?} (max {:.2?}) over {rounds} rounds; \
         one container run to its end: {b:.2?}; ratio {:.1}",
        stack.iter().max().unwrap(),
        s.as_secs_f64() / b.as_secs_f64()
    );
}
