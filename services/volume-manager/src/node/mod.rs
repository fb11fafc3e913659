//! The node side's contact with the kernel: probing, formatting, mounting, statistics and
//! filesystem growth on a block device. This is the one place that needs an active LV; it works
//! on any block device path, so tests drive it with a loop device standing in for the LV.

pub mod mountinfo;

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;
use std::process::Command;

use nix::mount::{MntFlags, MsFlags};

use crate::error::{OpError, OpResult};

/// Filesystem used when neither the capability nor the parameters name one (upstream: ext4).
pub const DEFAULT_FS: &str = "ext4";

fn run(program: &str, args: &[&str]) -> OpResult<std::process::Output> {
    Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| OpError::Internal(format!("running {program}: {e}")))
}

fn failed(program: &str, args: &[&str], out: &std::process::Output) -> OpError {
    OpError::Internal(format!(
        "{program} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// What is on a device: `Some(type)` for a filesystem or other signature, `None` only when
/// blkid positively reports no signature at all (its exit code 2). Every other outcome is an
/// error, so a failed probe can never lead to mkfs (upstream formatted data away, #140).
pub fn probe(device: &Path) -> OpResult<Option<String>> {
    let dev = device.to_string_lossy();
    let args = ["-p", "-o", "export", dev.as_ref()];
    let out = run("blkid", &args)?;
    match out.status.code() {
        Some(0) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let kind = text
                .lines()
                .find_map(|l| l.strip_prefix("TYPE="))
                .or_else(|| text.lines().find_map(|l| l.strip_prefix("PTTYPE=")))
                .unwrap_or("unknown");
            Ok(Some(kind.to_string()))
        }
        Some(2) => Ok(None),
        _ => Err(failed("blkid", &args, &out)),
    }
}

/// Creates a filesystem on a blank device. XFS gets `nrext64=0` so kernels before 5.19 can
/// mount it (upstream #111); an mkfs.xfs too old to know the option is retried without it.
pub fn mkfs(device: &Path, fs: &str) -> OpResult<()> {
    let dev = device.to_string_lossy();
    let program = format!("mkfs.{fs}");
    let with: Vec<&str> = match fs {
        "xfs" => vec!["-q", "-i", "nrext64=0", dev.as_ref()],
        _ => vec!["-q", dev.as_ref()],
    };
    let out = run(&program, &with)?;
    if out.status.success() {
        return Ok(());
    }
    if fs == "xfs" && String::from_utf8_lossy(&out.stderr).contains("nrext64") {
        let plain = ["-q", dev.as_ref()];
        let out = run(&program, &plain)?;
        return if out.status.success() {
            Ok(())
        } else {
            Err(failed(&program, &plain, &out))
        };
    }
    Err(failed(&program, &with, &out))
}

/// Makes sure the device carries filesystem `fs`: formats it only when certainly blank; an
/// existing filesystem of another type is an error, never overwritten.
pub fn ensure_filesystem(device: &Path, fs: &str) -> OpResult<bool> {
    match probe(device)? {
        None => {
            mkfs(device, fs)?;
            Ok(true)
        }
        Some(found) if found == fs => Ok(false),
        Some(found) => Err(OpError::Precondition(format!(
            "{} holds {found}, not {fs}; it is left as it is",
            device.display()
        ))),
    }
}

/// Splits mount options into kernel flags and filesystem data.
pub fn mount_flags(options: &[String], readonly: bool) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for o in options
        .iter()
        .flat_map(|o| o.split(','))
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        match o {
            "ro" => flags |= MsFlags::MS_RDONLY,
            "rw" => {}
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "sync" => flags |= MsFlags::MS_SYNCHRONOUS,
            "dirsync" => flags |= MsFlags::MS_DIRSYNC,
            other => data.push(other),
        }
    }
    if readonly {
        flags |= MsFlags::MS_RDONLY;
    }
    (flags, data.join(","))
}

fn mounted(target: &Path) -> OpResult<Option<mountinfo::Mount>> {
    let mounts =
        mountinfo::current().map_err(|e| OpError::Internal(format!("reading mountinfo: {e}")))?;
    Ok(mountinfo::at(&mounts, target))
}

/// Mounts a filesystem; an existing mount at `target` counts as done.
pub fn mount_fs(
    device: &Path,
    target: &Path,
    fs: &str,
    options: &[String],
    readonly: bool,
) -> OpResult<()> {
    if mounted(target)?.is_some() {
        return Ok(());
    }
    std::fs::create_dir_all(target)
        .map_err(|e| OpError::Internal(format!("creating {}: {e}", target.display())))?;
    let (flags, data) = mount_flags(options, readonly);
    let data = Some(data.as_str()).filter(|d| !d.is_empty());
    nix::mount::mount(Some(device), target, Some(fs), flags, data).map_err(|e| {
        OpError::Internal(format!(
            "mounting {} ({fs}) at {}: {e}",
            device.display(),
            target.display()
        ))
    })
}

/// Bind-mounts `source` (a directory or a device node) at `target`, created as a directory or
/// a file to match; read-only takes a remount, as the kernel ignores MS_RDONLY on the bind.
pub fn bind(source: &Path, target: &Path, options: &[String], readonly: bool) -> OpResult<()> {
    if mounted(target)?.is_some() {
        return Ok(());
    }
    let is_dir = source.is_dir();
    let created = if is_dir {
        std::fs::create_dir_all(target)
    } else {
        if let Some(parent) = target.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(target)
            .map(drop)
    };
    created.map_err(|e| OpError::Internal(format!("creating {}: {e}", target.display())))?;
    let io = |e: nix::Error| {
        OpError::Internal(format!(
            "bind-mounting {} at {}: {e}",
            source.display(),
            target.display()
        ))
    };
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(io)?;
    let (flags, _) = mount_flags(options, readonly);
    if !flags.is_empty() {
        nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
            None::<&str>,
        )
        .map_err(io)?;
    }
    Ok(())
}

/// Unmounts everything stacked at `target` (idempotent).
pub fn unmount(target: &Path) -> OpResult<()> {
    while mounted(target)?.is_some() {
        nix::mount::umount2(target, MntFlags::empty())
            .map_err(|e| OpError::Internal(format!("unmounting {}: {e}", target.display())))?;
    }
    Ok(())
}

/// Unmounts and removes the target path (a directory or, for block volumes, a file): the spec
/// says NodeUnpublish removes it (upstream left it behind).
pub fn unmount_and_remove(target: &Path) -> OpResult<()> {
    unmount(target)?;
    let removed = match std::fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir(target),
        Ok(_) => std::fs::remove_file(target),
    };
    removed.map_err(|e| OpError::Internal(format!("removing {}: {e}", target.display())))
}

/// Usage of a published volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    Filesystem {
        total: u64,
        available: u64,
        used: u64,
        inodes: u64,
        inodes_free: u64,
        inodes_used: u64,
    },
    Block {
        total: u64,
    },
}

/// The size of a block device node, from sysfs (no ioctl needed).
pub fn block_size(path: &Path) -> OpResult<u64> {
    let meta = std::fs::metadata(path)
        .map_err(|e| OpError::NotFound(format!("{}: {e}", path.display())))?;
    if !meta.file_type().is_block_device() {
        return Err(OpError::Invalid(format!(
            "{} is not a block device",
            path.display()
        )));
    }
    let rdev = meta.rdev();
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    let sectors = std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/size"))
        .map_err(|e| OpError::Internal(format!("size of {}: {e}", path.display())))?;
    sectors
        .trim()
        .parse::<u64>()
        .map(|s| s * 512)
        .map_err(|e| OpError::Internal(format!("size of {}: {e}", path.display())))
}

pub fn usage(path: &Path) -> OpResult<Usage> {
    let meta = std::fs::metadata(path)
        .map_err(|e| OpError::NotFound(format!("volume path {}: {e}", path.display())))?;
    if meta.file_type().is_block_device() {
        return Ok(Usage::Block {
            total: block_size(path)?,
        });
    }
    let s = nix::sys::statvfs::statvfs(path)
        .map_err(|e| OpError::Internal(format!("statfs {}: {e}", path.display())))?;
    let frsize = s.fragment_size();
    Ok(Usage::Filesystem {
        total: s.blocks() * frsize,
        available: s.blocks_available() * frsize,
        used: (s.blocks() - s.blocks_free()) * frsize,
        inodes: s.files(),
        inodes_free: s.files_free(),
        inodes_used: s.files() - s.files_free(),
    })
}

/// Grows the filesystem mounted at `mount_point` from `device` to fill the device.
pub fn grow_filesystem(device: &Path, mount_point: &Path) -> OpResult<()> {
    let dev = device.to_string_lossy();
    let mp = mount_point.to_string_lossy();
    let fs = mounted(mount_point)?
        .map(|m| m.fs_type)
        .ok_or_else(|| OpError::NotFound(format!("nothing is mounted at {mp}")))?;
    let (program, args): (&str, Vec<&str>) = match fs.as_str() {
        "xfs" => ("xfs_growfs", vec![mp.as_ref()]),
        f if f.starts_with("ext") => ("resize2fs", vec![dev.as_ref()]),
        other => {
            return Err(OpError::Precondition(format!(
                "cannot grow a {other} filesystem"
            )));
        }
    };
    let out = run(program, &args)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(program, &args, &out))
    }
}

/// Mount points (other than `except`) where the filesystem on `device` is mounted.
pub fn mounts_of(device: &Path, except: &[&Path]) -> OpResult<Vec<std::path::PathBuf>> {
    let Ok(meta) = std::fs::metadata(device) else {
        return Ok(Vec::new());
    };
    let rdev = meta.rdev();
    let dev = format!(
        "{}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    );
    let mounts =
        mountinfo::current().map_err(|e| OpError::Internal(format!("reading mountinfo: {e}")))?;
    Ok(mounts
        .into_iter()
        .filter(|m| m.dev == dev && !except.contains(&m.mount_point.as_path()))
        .map(|m| m.mount_point)
        .collect())
}

/// The device mounted at `path`, from mountinfo.
pub fn mount_source(path: &Path) -> OpResult<Option<String>> {
    Ok(mounted(path)?.map(|m| m.source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let (flags, data) = mount_flags(&["noatime,discard".into(), "nosuid".into()], true);
        assert!(flags.contains(MsFlags::MS_NOATIME | MsFlags::MS_NOSUID | MsFlags::MS_RDONLY));
        assert_eq!(data, "discard");
        let (flags, data) = mount_flags(&[], false);
        assert!(flags.is_empty() && data.is_empty());
    }
}
