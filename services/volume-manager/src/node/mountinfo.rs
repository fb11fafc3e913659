//! `/proc/self/mountinfo`, parsed: which mount points exist and what is mounted there.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `major:minor` of the mounted filesystem's device.
    pub dev: String,
    /// Path inside the mounted filesystem (`/` for a whole filesystem, the file for a bind).
    pub root: String,
    pub mount_point: PathBuf,
    pub options: String,
    pub fs_type: String,
    pub source: String,
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(code) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(code as char);
            i += 4;
            continue;
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let head: Vec<&str> = head.split(' ').collect();
            let tail: Vec<&str> = tail.split(' ').collect();
            if head.len() < 6 || tail.len() < 2 {
                return None;
            }
            Some(Mount {
                dev: head[2].to_string(),
                root: unescape(head[3]),
                mount_point: PathBuf::from(unescape(head[4])),
                options: head[5].to_string(),
                fs_type: tail[0].to_string(),
                source: unescape(tail[1]),
            })
        })
        .collect()
}

/// The topmost mount at `path`, if any.
pub fn at(mounts: &[Mount], path: &Path) -> Option<Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path).cloned()
}

pub fn current() -> std::io::Result<Vec<Mount>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mounts_and_escapes() {
        let text = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
                    40 36 7:3 / /var/lib/kubelet/pods/a\\040b/mount rw shared:5 - xfs /dev/loop3 rw\n\
                    41 36 7:3 / /var/lib/kubelet/pods/a\\040b/mount ro shared:5 - xfs /dev/loop3 ro\n";
        let mounts = parse(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(
            (mounts[0].fs_type.as_str(), mounts[0].dev.as_str()),
            ("ext3", "98:0")
        );
        let m = at(&mounts, Path::new("/var/lib/kubelet/pods/a b/mount")).unwrap();
        assert_eq!(
            (m.source.as_str(), m.options.as_str()),
            ("/dev/loop3", "ro")
        );
        assert!(at(&mounts, Path::new("/nope")).is_none());
        assert!(parse("garbage line").is_empty());
    }
}
