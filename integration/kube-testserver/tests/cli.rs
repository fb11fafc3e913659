//! The `kube-testserver` binary's command line: a CRD or token file that cannot be read or
//! parsed stops it at start with a message naming the file, instead of serving without it.
//! (Its being an integration test also makes `cargo test` build the binary that the
//! `integration` crate's tests start.)

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kube-testserver"))
        .args(args)
        .output()
        .expect("run kube-testserver")
}

#[test]
fn unreadable_or_invalid_crd_files_stop_it_at_start() {
    let missing = run(&["--listen", "127.0.0.1:0", "--crd", "/nonexistent/crd.yaml"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("/nonexistent/crd.yaml"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: CustomResourceDefinition\nspec: [not, a, crd\n").unwrap();
    let invalid = run(&["--listen", "127.0.0.1:0", "--crd", bad.to_str().unwrap()]);
    assert!(!invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("bad.yaml"));
}

#[test]
fn bad_token_files_stop_it_at_start_without_printing_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "good-token,alice,1\nhidden-token-value\n").unwrap();
    let bad = run(&[
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        tokens.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("tokens.csv: line 2:"), "{stderr}");
    assert!(!stderr.contains("token-value"), "{stderr}");

    let missing = run(&[
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        "/nonexistent/t.csv",
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/t.csv"));
}

#[test]
fn help_names_every_flag() {
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    for flag in [
        "--listen",
        "--crd",
        "--history",
        "--bookmark-interval",
        "--log-requests",
        "--token-file",
        "--write-kubeconfig",
        "--advertise",
        "--namespace",
    ] {
        assert!(help.contains(flag), "{flag} missing from\n{help}");
    }
}

/// Kills the server when the test ends, passing or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// A plain HTTP/1.1 GET; the status line and the body.
fn get(server: &str, path: &str) -> (String, String) {
    let addr = server.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

fn crd(group: &str, kind: &str, plural: &str) -> String {
    format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata: {{name: {plural}.{group}}}\nspec:\n  group: {group}\n  scope: Namespaced\n  \
         names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}\n  \
         versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      \
         openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
        singular = kind.to_lowercase()
    )
}

#[test]
fn a_crd_directory_and_namespaces_are_served_and_the_kubeconfig_names_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let crds = dir.path().join("crds");
    std::fs::create_dir(&crds).unwrap();
    std::fs::write(crds.join("a.yaml"), crd("a.example.com", "Apple", "apples")).unwrap();
    std::fs::write(crds.join("b.yml"), crd("b.example.com", "Berry", "berries")).unwrap();
    std::fs::write(crds.join("notes.txt"), "not a CRD: ignored").unwrap();
    let kubeconfig = dir.path().join(".kube/config");

    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_kube-testserver"))
            .args(["--listen", "127.0.0.1:0", "--crd"])
            .arg(&crds)
            .arg("--write-kubeconfig")
            .arg(&kubeconfig)
            .args(["--namespace", "metallb-system", "--namespace", "default"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kube-testserver"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kubeconfig.exists() {
        assert!(Instant::now() < deadline, "no kubeconfig written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .unwrap_or_else(|| panic!("no server in\n{text}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(text.contains("current-context: local"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);

    // Both YAML files of the directory are served; the text file was not read as a CRD.
    for path in ["/apis/a.example.com/v1", "/apis/b.example.com/v1"] {
        let (status, body) = get(&url, path);
        assert!(status.contains(" 200 "), "{path}: {status}\n{body}");
    }
    // --namespace: there at start; naming one that exists anyway is fine.
    let (status, body) = get(&url, "/api/v1/namespaces/metallb-system");
    assert!(status.contains(" 200 "), "{status}\n{body}");
    drop(server);

    // An invalid namespace name stops it at start, naming it.
    let out = run(&["--listen", "127.0.0.1:0", "--namespace", "Not_A_Name"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Not_A_Name"), "{stderr}");

    // --advertise names the server clients reach (a port Docker publishes, say).
    let advertised = dir.path().join("advertised");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_kube-testserver"))
            .args(["--listen", "127.0.0.1:0", "--write-kubeconfig"])
            .arg(&advertised)
            .args(["--advertise", "http://127.0.0.1:16443"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kube-testserver"),
    );
    while !advertised.exists() {
        assert!(Instant::now() < deadline, "no kubeconfig written");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&advertised).unwrap();
    assert!(text.contains("server: http://127.0.0.1:16443\n"), "{text}");
    drop(server);

    // A directory without YAML files is an error naming it, not an empty server.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(&["--listen", "127.0.0.1:0", "--crd", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("empty") && stderr.contains("no .yaml"),
        "{stderr}"
    );
}
