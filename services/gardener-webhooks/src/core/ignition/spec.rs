//! The Ignition documents, one per spec version, from the same list of files and units.
//!
//! 2.3.0 is what upstream's Container Linux Config transpiler emitted, field for field and in Go's
//! field order: empty `config`, `security.tls`, `timeouts`, `networkd` and `passwd` objects;
//! files on filesystem `root` with `overwrite`, a `data:` source and empty `verification`; units
//! with `enabled`. 3.4.0 carries only what the v3 schema needs: no filesystem (v3 writes to the
//! root), `overwrite` spelt out because v3 would otherwise refuse files the image already has.

use std::borrow::Cow;

use serde::Serialize;

use super::{IgnitionVersion, go_json};

pub(super) struct PlannedFile<'a> {
    pub path: &'a str,
    pub mode: u32,
    pub source: String,
}

pub(super) struct PlannedUnit<'a> {
    pub name: Cow<'a, str>,
    pub contents: Cow<'a, str>,
    pub dropins: Vec<(&'a str, &'a str)>,
}

pub(super) fn document(
    version: IgnitionVersion,
    files: &[PlannedFile<'_>],
    units: &[PlannedUnit<'_>],
) -> String {
    match version {
        IgnitionVersion::V2_3_0 => go_json::to_string(&v2::Config::new(files, units)),
        IgnitionVersion::V3_4_0 => go_json::to_string(&v3::Config::new(files, units)),
    }
}

fn is_empty(text: &str) -> bool {
    text.is_empty()
}

#[derive(Serialize)]
struct Empty {}

mod v2 {
    use super::*;

    #[derive(Serialize)]
    pub(super) struct Config<'a> {
        ignition: Ignition,
        networkd: Empty,
        passwd: Empty,
        storage: Storage<'a>,
        systemd: Systemd<'a>,
    }

    #[derive(Serialize)]
    struct Ignition {
        config: Empty,
        security: Security,
        timeouts: Empty,
        version: &'static str,
    }

    #[derive(Serialize)]
    struct Security {
        tls: Empty,
    }

    #[derive(Serialize)]
    struct Storage<'a> {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        files: Vec<File<'a>>,
    }

    #[derive(Serialize)]
    struct File<'a> {
        filesystem: &'static str,
        overwrite: bool,
        path: &'a str,
        contents: Contents<'a>,
        mode: u32,
    }

    #[derive(Serialize)]
    struct Contents<'a> {
        source: &'a str,
        verification: Empty,
    }

    #[derive(Serialize)]
    struct Systemd<'a> {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        units: Vec<Unit<'a>>,
    }

    #[derive(Serialize)]
    struct Unit<'a> {
        #[serde(skip_serializing_if = "is_empty")]
        contents: &'a str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        dropins: Vec<Dropin<'a>>,
        enabled: bool,
        name: &'a str,
    }

    #[derive(Serialize)]
    struct Dropin<'a> {
        #[serde(skip_serializing_if = "is_empty")]
        contents: &'a str,
        name: &'a str,
    }

    impl<'a> Config<'a> {
        pub(super) fn new(files: &'a [PlannedFile<'a>], units: &'a [PlannedUnit<'a>]) -> Self {
            Config {
                ignition: Ignition {
                    config: Empty {},
                    security: Security { tls: Empty {} },
                    timeouts: Empty {},
                    version: IgnitionVersion::V2_3_0.as_str(),
                },
                networkd: Empty {},
                passwd: Empty {},
                storage: Storage {
                    files: files
                        .iter()
                        .map(|file| File {
                            filesystem: "root",
                            overwrite: true,
                            path: file.path,
                            contents: Contents {
                                source: &file.source,
                                verification: Empty {},
                            },
                            mode: file.mode,
                        })
                        .collect(),
                },
                systemd: Systemd {
                    units: units
                        .iter()
                        .map(|unit| Unit {
                            contents: &unit.contents,
                            dropins: unit
                                .dropins
                                .iter()
                                .map(|(name, contents)| Dropin { contents, name })
                                .collect(),
                            enabled: true,
                            name: &unit.name,
                        })
                        .collect(),
                },
            }
        }
    }
}

mod v3 {
    use super::*;

    #[derive(Serialize)]
    pub(super) struct Config<'a> {
        ignition: Ignition,
        storage: Storage<'a>,
        systemd: Systemd<'a>,
    }

    #[derive(Serialize)]
    struct Ignition {
        version: &'static str,
    }

    #[derive(Serialize)]
    struct Storage<'a> {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        files: Vec<File<'a>>,
    }

    #[derive(Serialize)]
    struct File<'a> {
        path: &'a str,
        contents: Contents<'a>,
        mode: u32,
        overwrite: bool,
    }

    #[derive(Serialize)]
    struct Contents<'a> {
        source: &'a str,
    }

    #[derive(Serialize)]
    struct Systemd<'a> {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        units: Vec<Unit<'a>>,
    }

    #[derive(Serialize)]
    struct Unit<'a> {
        name: &'a str,
        enabled: bool,
        #[serde(skip_serializing_if = "is_empty")]
        contents: &'a str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        dropins: Vec<Dropin<'a>>,
    }

    #[derive(Serialize)]
    struct Dropin<'a> {
        name: &'a str,
        #[serde(skip_serializing_if = "is_empty")]
        contents: &'a str,
    }

    impl<'a> Config<'a> {
        pub(super) fn new(files: &'a [PlannedFile<'a>], units: &'a [PlannedUnit<'a>]) -> Self {
            Config {
                ignition: Ignition {
                    version: IgnitionVersion::V3_4_0.as_str(),
                },
                storage: Storage {
                    files: files
                        .iter()
                        .map(|file| File {
                            path: file.path,
                            contents: Contents {
                                source: &file.source,
                            },
                            mode: file.mode,
                            overwrite: true,
                        })
                        .collect(),
                },
                systemd: Systemd {
                    units: units
                        .iter()
                        .map(|unit| Unit {
                            name: &unit.name,
                            enabled: true,
                            contents: &unit.contents,
                            dropins: unit
                                .dropins
                                .iter()
                                .map(|(name, contents)| Dropin { name, contents })
                                .collect(),
                        })
                        .collect(),
                },
            }
        }
    }
}
