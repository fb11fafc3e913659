//! Suricata in IDS mode: interface statistics from its unix command socket (for the
//! FirewallMonitor's `idsStats`), and a `suricata.yaml` for passive IDS on one interface.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use kube_resources::firewall::IdsStat;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixStream;

const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SuricataError {
    #[error("suricata socket {path}: {message}")]
    Io { path: String, message: String },
    #[error("suricata answered {0}")]
    Refused(String),
}

/// One request/answer exchange on the command socket: JSON out, one JSON line back.
async fn exchange(
    reader: &mut BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: &mut tokio::net::unix::OwnedWriteHalf,
    request: Value,
    path: &str,
) -> Result<Value, SuricataError> {
    let io = |e: std::io::Error| SuricataError::Io {
        path: path.to_string(),
        message: e.to_string(),
    };
    let mut line = serde_json::to_vec(&request).expect("JSON");
    line.push(b'\n');
    writer.write_all(&line).await.map_err(io)?;
    let mut answer = String::new();
    tokio::time::timeout(TIMEOUT, reader.read_line(&mut answer))
        .await
        .map_err(|_| SuricataError::Io {
            path: path.to_string(),
            message: "no answer in 5 s".into(),
        })?
        .map_err(io)?;
    let answer: Value = serde_json::from_str(answer.trim()).map_err(|e| SuricataError::Io {
        path: path.to_string(),
        message: format!("bad answer: {e}"),
    })?;
    if answer["return"] != "OK" {
        return Err(SuricataError::Refused(answer.to_string()));
    }
    Ok(answer)
}

/// `iface-list`, then `iface-stat` per interface: packets, drops and invalid checksums.
pub async fn interface_stats(socket: &Path) -> Result<BTreeMap<String, IdsStat>, SuricataError> {
    let path = socket.display().to_string();
    let stream = tokio::time::timeout(TIMEOUT, UnixStream::connect(socket))
        .await
        .map_err(|_| SuricataError::Io {
            path: path.clone(),
            message: "connect timed out".into(),
        })?
        .map_err(|e| SuricataError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    exchange(&mut read, &mut write, json!({"version": "0.2"}), &path).await?;
    let list = exchange(
        &mut read,
        &mut write,
        json!({"command": "iface-list"}),
        &path,
    )
    .await?;
    let mut out = BTreeMap::new();
    for iface in list["message"]["ifaces"].as_array().into_iter().flatten() {
        let Some(iface) = iface.as_str() else {
            continue;
        };
        let stat = exchange(
            &mut read,
            &mut write,
            json!({"command": "iface-stat", "arguments": {"iface": iface}}),
            &path,
        )
        .await?;
        let m = &stat["message"];
        out.insert(
            iface.to_string(),
            IdsStat {
                packets: m["pkts"].as_i64().unwrap_or(0),
                drop: m["drop"].as_i64().unwrap_or(0),
                invalid_checksums: m["invalid-checksums"].as_i64().unwrap_or(0),
            },
        );
    }
    Ok(out)
}

/// A `suricata.yaml` for passive IDS (no IPS: packets are copied, never held) on `interface`,
/// with the command socket at `socket` so [`interface_stats`] can read it.
pub fn config(interface: &str, socket: &Path) -> String {
    let doc = json!({
        "vars": {
            "address-groups": {
                "HOME_NET": "[10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7]",
                "EXTERNAL_NET": "!$HOME_NET",
            },
            "port-groups": {"HTTP_PORTS": "80", "SSH_PORTS": "22", "DNS_PORTS": "53"},
        },
        "default-log-dir": "/var/log/suricata/",
        "stats": {"enabled": true, "interval": 8},
        "outputs": [
            {"fast": {"enabled": true, "filename": "fast.log", "append": true}},
            {"eve-log": {"enabled": true, "filetype": "regular", "filename": "eve.json",
                "types": [{"alert": {"tagged-packets": true}}, {"anomaly": {"enabled": true}}, "http", "dns", "tls", "flow", "stats"]}},
        ],
        "af-packet": [
            {"interface": interface, "threads": "auto", "cluster-id": 99, "cluster-type": "cluster_flow", "defrag": true},
            {"interface": "default"},
        ],
        "unix-command": {"enabled": "yes", "filename": socket.display().to_string()},
        "default-rule-path": "/var/lib/suricata/rules",
        "rule-files": ["suricata.rules"],
        "classification-file": "/etc/suricata/classification.config",
        "reference-config-file": "/etc/suricata/reference.config",
        "threading": {"detect-thread-ratio": 0.2},
    });
    let yaml = serde_saphyr::to_string(&doc).expect("YAML");
    format!("%YAML 1.1\n---\n# Generated by rule-compiler: passive IDS on {interface}.\n{yaml}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    /// A stand-in for Suricata's command socket speaking its JSON protocol.
    async fn fake_suricata(path: &Path) {
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Some(line) = lines.next_line().await.unwrap() {
                let req: Value = serde_json::from_str(&line).unwrap();
                let answer = match (req.get("version"), req["command"].as_str()) {
                    (Some(_), _) => json!({"return": "OK"}),
                    (_, Some("iface-list")) => {
                        json!({"return": "OK", "message": {"count": 2, "ifaces": ["vlan104009", "lan0"]}})
                    }
                    (_, Some("iface-stat")) if req["arguments"]["iface"] == "vlan104009" => {
                        json!({"return": "OK", "message": {"pkts": 1000, "drop": 3, "invalid-checksums": 7}})
                    }
                    (_, Some("iface-stat")) => {
                        json!({"return": "OK", "message": {"pkts": 5, "drop": 0, "invalid-checksums": 0}})
                    }
                    _ => json!({"return": "NOK", "message": "unknown"}),
                };
                write
                    .write_all(format!("{answer}\n").as_bytes())
                    .await
                    .unwrap();
            }
            let mut rest = Vec::new();
            let _ = write.flush().await;
            let _ = lines.into_inner().read_to_end(&mut rest).await;
        });
    }

    #[tokio::test]
    async fn interface_statistics_come_from_the_command_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("suricata-command.socket");
        fake_suricata(&socket).await;
        let stats = interface_stats(&socket).await.unwrap();
        assert_eq!(
            stats["vlan104009"],
            IdsStat {
                packets: 1000,
                drop: 3,
                invalid_checksums: 7
            }
        );
        assert_eq!(stats["lan0"].packets, 5);
        assert_eq!(stats.len(), 2);
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_clear_error() {
        let err = interface_stats(Path::new("/nonexistent/suricata.socket"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/suricata.socket"),
            "{err}"
        );
    }

    #[test]
    fn the_config_is_passive_ids_on_the_interface() {
        let text = config("vlan104009", Path::new("/run/suricata-command.socket"));
        let body = text.split_once("---\n").unwrap().1;
        let doc: Value = serde_saphyr::from_str(body).unwrap();
        assert_eq!(doc["af-packet"][0]["interface"], "vlan104009");
        assert_eq!(doc["af-packet"][0]["cluster-type"], "cluster_flow");
        assert!(
            doc["af-packet"][0].get("copy-mode").is_none(),
            "IDS, not IPS"
        );
        assert_eq!(
            doc["unix-command"]["filename"],
            "/run/suricata-command.socket"
        );
    }
}
