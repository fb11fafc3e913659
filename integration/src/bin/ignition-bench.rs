//! Rendering OperatingSystemConfigs to Ignition, beside decoding their JSON, in one run: the
//! issue's big one, 500 units (each with a drop-in) and 500 files of 64 KiB (half plain, half
//! `b64`; text as configuration files are: letters, digits, `=`, spaces, newlines, some `%`,
//! `<`, `"`), and one of the size Gardener's provision OSCs have (5 units, 10 files of 4 KiB);
//! purpose `provision`, for Ignition 2.3.0 and 3.4.0. Each step runs `ROUNDS` times; the median
//! is reported.
//!
//! Run: `cargo run --release -p integration --bin ignition-bench -- [ROUNDS]` (default 11).

use std::time::{Duration, Instant};

use base64::Engine as _;
use gardener_webhooks::core::ignition::{IgnitionVersion, Secrets, render};
use serde_json::{Value, json};

/// (units, files, bytes per file)
const SHAPES: [(usize, usize, usize); 2] = [(500, 500, 64 << 10), (5, 10, 4 << 10)];

/// `size` bytes of configuration-file text, different per file.
fn content(i: usize, size: usize) -> String {
    let mut text = String::with_capacity(size + 128);
    let mut line = 0;
    while text.len() < size {
        text.push_str(&format!(
            "# file {i} line {line}: generated for <<MACHINE_NAME>>\nkey_{line} = \"value {line}\" ; 50% of {i}\n"
        ));
        line += 1;
    }
    text.truncate(size);
    text
}

fn osc_text(units: usize, files: usize, size: usize) -> String {
    let units: Vec<Value> = (0..units)
        .map(|i| {
            json!({"name": format!("bench-{i}.service"),
                   "content": format!("[Unit]\nDescription=bench {i}\n[Service]\nExecStart=/usr/bin/true {i}\n[Install]\nWantedBy=multi-user.target\n"),
                   "dropIns": [{"name": "10-env.conf", "content": format!("[Service]\nEnvironment=N={i}\n")}]})
        })
        .collect();
    let files: Vec<Value> = (0..files)
        .map(|i| {
            let text = content(i, size);
            let inline = if i % 2 == 0 {
                json!({"encoding": "", "data": text})
            } else {
                json!({"encoding": "b64", "data": base64::engine::general_purpose::STANDARD.encode(text)})
            };
            json!({"path": format!("/etc/bench/{i}.conf"), "permissions": 0o644, "content": {"inline": inline}})
        })
        .collect();
    serde_json::to_string(&json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "OperatingSystemConfig",
        "metadata": {"name": "bench", "namespace": "shoot--p--s"},
        "spec": {"type": "ubuntu", "purpose": "provision", "units": units, "files": files},
    }))
    .unwrap()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(11, |s| s.parse().expect("ROUNDS"));
    for (units, files, size) in SHAPES {
        measure(units, files, size, rounds);
    }
}

fn measure(units: usize, files: usize, size: usize, rounds: usize) {
    let text = osc_text(units, files, size);
    let secrets = Secrets::new();

    let mut decode = Vec::new();
    let mut osc = Value::Null;
    for _ in 0..rounds {
        let started = Instant::now();
        osc = serde_json::from_str(&text).unwrap();
        decode.push(started.elapsed());
    }
    println!(
        "OSC: {units} units, {files} files of {} KiB; JSON {:.2} MiB; {rounds} rounds, medians",
        size >> 10,
        text.len() as f64 / (1 << 20) as f64
    );
    let decode = median(decode);
    println!("  decode the OSC's JSON:        {:>9.3} ms", ms(decode));
    for version in [IgnitionVersion::V2_3_0, IgnitionVersion::V3_4_0] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let rendered = render(&osc, &secrets, version).unwrap();
            times.push(started.elapsed());
            bytes = rendered.user_data.map_or(0, |u| u.len());
        }
        let time = median(times);
        println!(
            "  render to Ignition {version}:     {:>9.3} ms  ({:.2} MiB of userdata, {:.2}x the decode, {:.0} MiB/s of file content)",
            ms(time),
            bytes as f64 / (1 << 20) as f64,
            time.as_secs_f64() / decode.as_secs_f64(),
            (files * size) as f64 / (1 << 20) as f64 / time.as_secs_f64()
        );
    }
}
