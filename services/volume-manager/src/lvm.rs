//! The lvm2 command line: argument vectors in, JSON reports out, failures classified so the
//! gRPC edge can give the spec's codes. Every call is blocking; callers run it on a blocking
//! thread. lvm serialises metadata changes with its own file locks, so concurrent reads are safe.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::core::plan;
use crate::core::report::{self, Lv, Pv, Vg};
use crate::core::tags;

/// How to run lvm.
#[derive(Debug, Clone)]
pub struct Lvm {
    program: PathBuf,
    /// `--driverloaded n` on every call: metadata only, for kernels without device-mapper.
    pub no_activation: bool,
    /// `--config` with the backup, archive and lock directories (upstream `--hostwritepath`).
    config: Option<String>,
    system_dir: Option<PathBuf>,
}

/// What went wrong, as far as the caller has to tell cases apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NotFound,
    NoSpace,
    Exists,
    /// The operation needs the device-mapper driver (raid1, snapshots) and there is none.
    NeedsDeviceMapper,
    /// lvm itself could not be started (not installed, not executable).
    NotStarted,
    Other,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{command} failed ({status}): {stderr}")]
pub struct LvmError {
    pub command: String,
    pub status: String,
    pub stderr: String,
    pub failure: Failure,
}

fn classify(stderr: &str) -> Failure {
    let s = stderr.to_ascii_lowercase();
    if s.contains("insufficient free space") || s.contains("insufficient suitable") {
        Failure::NoSpace
    } else if s.contains("without using device-mapper kernel driver")
        || s.contains("target support missing")
        || s.contains("required device-mapper target")
    {
        Failure::NeedsDeviceMapper
    } else if s.contains("already exists") {
        Failure::Exists
    } else if s.contains("not found") || s.contains("failed to find") {
        Failure::NotFound
    } else {
        Failure::Other
    }
}

/// lvm's warnings that say nothing about the outcome.
fn noise(line: &str) -> bool {
    let l = line.trim();
    l.is_empty()
        || l.starts_with("WARNING: Activation disabled")
        || l.contains("leaked on lvm invocation")
}

impl Lvm {
    pub fn new(
        program: impl Into<PathBuf>,
        no_activation: bool,
        host_write_path: Option<&Path>,
        system_dir: Option<PathBuf>,
    ) -> Self {
        let config = host_write_path.map(|p| {
            let p = p.display();
            format!(
                "backup {{ backup_dir=\"{p}/backup\" archive_dir=\"{p}/archive\" }} \
                 global {{ locking_dir=\"{p}/lock\" }}"
            )
        });
        Lvm {
            program: program.into(),
            no_activation,
            config,
            system_dir,
        }
    }

    /// Runs one lvm command (`args[0]` is the lvm subcommand) and returns its stdout.
    pub fn run(&self, args: &[String]) -> Result<String, LvmError> {
        let (sub, rest) = args.split_first().expect("an lvm subcommand");
        let mut cmd = Command::new(&self.program);
        cmd.arg(sub)
            .args(plan::global_args(
                self.no_activation,
                self.config.as_deref(),
            ))
            .args(rest)
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .stdin(std::process::Stdio::null());
        if let Some(dir) = &self.system_dir {
            cmd.env("LVM_SYSTEM_DIR", dir);
        }
        let command = format!("lvm {}", args.join(" "));
        tracing::debug!(%command, "lvm");
        let output = cmd.output().map_err(|e| LvmError {
            command: command.clone(),
            status: "not started".into(),
            stderr: format!("{}: {e}", self.program.display()),
            failure: Failure::NotStarted,
        })?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let stderr: Vec<String> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|l| !noise(l))
            .map(|l| l.trim().to_string())
            .collect();
        let stderr = stderr.join("; ");
        Err(LvmError {
            failure: classify(&stderr),
            command,
            status: output.status.to_string(),
            stderr,
        })
    }

    fn report(&self, sub: &str, fields: &str, targets: &[String]) -> Result<String, LvmError> {
        let mut args: Vec<String> = [
            sub,
            "--reportformat",
            "json",
            "--units",
            "b",
            "--nosuffix",
            "-o",
            fields,
        ]
        .map(String::from)
        .to_vec();
        args.extend(targets.iter().cloned());
        self.run(&args)
    }

    pub fn vgs(&self, vgs: &[String]) -> Result<Vec<Vg>, LvmError> {
        let json = self.report("vgs", report::VG_FIELDS, vgs)?;
        report::parse_vgs(&json).map_err(|e| self.bad_report("vgs", e))
    }

    /// The VG, or `None` when lvm does not know it.
    pub fn vg(&self, vg: &str) -> Result<Option<Vg>, LvmError> {
        match self.vgs(&[vg.to_string()]) {
            Ok(mut v) => Ok(v.pop()),
            Err(e) if e.failure == Failure::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn pvs(&self, vg: &str) -> Result<Vec<Pv>, LvmError> {
        let json = self.report(
            "pvs",
            report::PV_FIELDS,
            &["--select".into(), format!("vg_name={vg}")],
        )?;
        report::parse_pvs(&json).map_err(|e| self.bad_report("pvs", e))
    }

    /// All LVs of these VGs (hidden sub-LVs excluded).
    pub fn lvs(&self, vgs: &[String]) -> Result<Vec<Lv>, LvmError> {
        let json = self.report("lvs", report::LV_FIELDS, vgs)?;
        report::parse_lvs(&json).map_err(|e| self.bad_report("lvs", e))
    }

    fn bad_report(&self, sub: &str, e: report::ReportError) -> LvmError {
        LvmError {
            command: format!("lvm {sub}"),
            status: "ok".into(),
            stderr: e.to_string(),
            failure: Failure::Other,
        }
    }

    /// Creates the VG from `devices` (vgcreate initialises them as PVs).
    pub fn vgcreate(&self, vg: &str, devices: &[PathBuf]) -> Result<(), LvmError> {
        let mut args: Vec<String> = vec![
            "vgcreate".into(),
            "--yes".into(),
            "--addtag".into(),
            tags::VG_DRIVER.into(),
            vg.into(),
        ];
        args.extend(devices.iter().map(|d| d.display().to_string()));
        self.run(&args).map(drop)
    }

    /// Activates every LV of the VG (after a reboot lvm may leave them inactive: upstream #153).
    /// Without activation there is nothing to do.
    pub fn activate_vg(&self, vg: &str) -> Result<(), LvmError> {
        if self.no_activation {
            return Ok(());
        }
        self.run(&[
            "vgchange".into(),
            "--activate".into(),
            "y".into(),
            vg.into(),
        ])
        .map(drop)
    }

    /// Activates one LV so its device node exists.
    pub fn activate_lv(&self, vg: &str, lv: &str) -> Result<(), LvmError> {
        if self.no_activation {
            return Ok(());
        }
        self.run(&[
            "lvchange".into(),
            "--activate".into(),
            "y".into(),
            "--ignoreactivationskip".into(),
            format!("{vg}/{lv}"),
        ])
        .map(drop)
    }

    pub fn deltag(&self, vg: &str, lv: &str, tag: &str) -> Result<(), LvmError> {
        self.run(&[
            "lvchange".into(),
            "--deltag".into(),
            tag.into(),
            format!("{vg}/{lv}"),
        ])
        .map(drop)
    }
}

/// Expands device patterns (plain paths or shell globs); a pattern that matches nothing is an
/// error naming it (upstream only said "volume group not found", #64).
pub fn expand_devices(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for pattern in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let matches: Vec<PathBuf> = if pattern.contains(['*', '?', '[']) {
            glob::glob(pattern)
                .map_err(|e| format!("device pattern {pattern:?}: {e}"))?
                .filter_map(Result::ok)
                .collect()
        } else {
            Some(PathBuf::from(pattern))
                .filter(|p| p.exists())
                .into_iter()
                .collect()
        };
        if matches.is_empty() {
            return Err(format!("device pattern {pattern:?} matches no device"));
        }
        for m in matches {
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_from_lvms_words() {
        assert_eq!(
            classify("Volume group \"vg\" has insufficient free space (3 extents): 25 required."),
            Failure::NoSpace
        );
        assert_eq!(
            classify("Can't create snapshot without using device-mapper kernel driver."),
            Failure::NeedsDeviceMapper
        );
        assert_eq!(
            classify("Logical Volume \"pvc-1\" already exists in volume group \"vg\""),
            Failure::Exists
        );
        assert_eq!(
            classify("Failed to find logical volume \"vg/x\""),
            Failure::NotFound
        );
        assert_eq!(classify("Volume group \"x\" not found"), Failure::NotFound);
        assert_eq!(classify("something else"), Failure::Other);
    }

    #[test]
    fn device_patterns_must_match() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["a1", "a2", "b"] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let glob = format!("{}/a*", dir.path().display());
        let plain = format!("{}/b", dir.path().display());
        let got = expand_devices(&[glob.clone(), plain.clone(), glob.clone()]).unwrap();
        assert_eq!(got.len(), 3);
        let e = expand_devices(&[format!("{}/nvme*", dir.path().display())]).unwrap_err();
        assert!(e.contains("matches no device"), "{e}");
        assert!(expand_devices(&["/nonexistent/dev".into()]).is_err());
    }
}
