//! SIGTERM drains in-flight requests, runs `on_shutdown` and exits 0: the real `runtime-demo`
//! binary as a child process, spoken to over a real socket.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

const LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// Kills the child if the test fails half-way, so no demo process outlives it.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Forwards the child's stdout lines, so the test can wait for a specific log line.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + LINE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line containing {needle:?}: {e}"),
        }
    }
}

/// A plain HTTP/1.1 GET; returns the status line and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LINE_TIMEOUT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn sigterm_lets_the_in_flight_request_finish_and_exits_zero() {
    let mut demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_runtime-demo"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "text",
                "--shutdown-timeout",
                "10s",
                "--auth",
                "none",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = lines(&mut demo.0);
    let listening = wait_for_line(&lines, "listening on ");
    let addr: SocketAddr = listening
        .split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {listening:?}"));

    let slow = thread::spawn(move || http_get(addr, "/slow?ms=1500"));
    wait_for_line(&lines, "slow request started");
    let pid = Pid::from_raw(i32::try_from(demo.0.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();

    let (status, body) = slow.join().unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.ends_with("slept 1500ms"), "body {body:?}");
    wait_for_line(&lines, "on_shutdown ran");

    let deadline = Instant::now() + LINE_TIMEOUT;
    let exit = loop {
        if let Some(exit) = demo.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(0));
}
