//! The binary as Docker's healthcheck runs it: exit 0 for a 2xx answer, 1 otherwise. (Also
//! makes `cargo test` build the binary, which compose/build-image.sh packages.)

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::Command;

/// Answers one request with `status` on a free port.
fn answer_once(status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
    });
    format!("http://{addr}/readyz")
}

fn probe(url: &str) -> i32 {
    Command::new(env!("CARGO_BIN_EXE_mesh-probe"))
        .args([url, "--timeout", "3s"])
        .output()
        .expect("run mesh-probe")
        .status
        .code()
        .unwrap_or(-1)
}

#[test]
fn healthy_is_zero_and_anything_else_one() {
    assert_eq!(probe(&answer_once("200 OK")), 0);
    assert_eq!(probe(&answer_once("503 Service Unavailable")), 1);
    // Nothing listens on the port of a listener just dropped.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(probe(&format!("http://{closed}/readyz")), 1);
}
