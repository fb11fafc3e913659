//! The `kube-testserver` binary's command line: a CRD or token file that cannot be read or
//! parsed stops it at start with a message naming the file, instead of serving without it.
//! (Its being an integration test also makes `cargo test` build the binary that the
//! `integration` crate's tests start.)

use std::process::Command;

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
    ] {
        assert!(help.contains(flag), "{flag} missing from\n{help}");
    }
}
