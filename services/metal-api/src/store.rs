//! Durable storage: one redb file, one table per entity kind, values as JSON. A batch of
//! changes is written in one transaction and is on disk (fsync) when `apply` returns.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::Change;

const IPS: TableDefinition<&str, &[u8]> = TableDefinition::new("ips");
const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("networks");
const MACHINES: TableDefinition<&str, &[u8]> = TableDefinition::new("machines");
const PARTITIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("partitions");
const SIZES: TableDefinition<&str, &[u8]> = TableDefinition::new("sizes");
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
const PROJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("projects");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: redb::DatabaseError,
    },
    #[error("storage error: {0}")]
    Storage(String),
    #[error("corrupt record {key:?} in table {table}: {source}")]
    Corrupt {
        table: &'static str,
        key: String,
        source: serde_json::Error,
    },
}

fn storage<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Storage(e.to_string())
}

pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) `DIR/metal-api.redb`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(storage)?;
        let path = dir.join("metal-api.redb");
        let db = Database::create(&path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        // Create every table so reads never meet a missing one.
        let tx = db.begin_write().map_err(storage)?;
        for table in [IPS, NETWORKS, MACHINES, PARTITIONS, SIZES, IMAGES, PROJECTS] {
            tx.open_table(table).map_err(storage)?;
        }
        tx.commit().map_err(storage)?;
        Ok(Self { db })
    }

    /// Every stored entity, as changes that rebuild the state.
    pub fn load(&self) -> Result<Vec<Change>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let mut out = Vec::new();
        macro_rules! load {
            ($table:expr, $name:literal, $variant:ident, $key:expr) => {{
                let table = tx.open_table($table).map_err(storage)?;
                for row in table.iter().map_err(storage)? {
                    let (k, v) = row.map_err(storage)?;
                    let value = decode($name, k.value(), v.value())?;
                    out.push(Change::$variant($key(k.value())?, Some(value)));
                }
            }};
        }
        let string = |k: &str| -> Result<String, StoreError> { Ok(k.to_string()) };
        let address = |k: &str| -> Result<std::net::IpAddr, StoreError> {
            k.parse()
                .map_err(|_| StoreError::Storage(format!("ip table key {k:?} is not an address")))
        };
        load!(PARTITIONS, "partitions", Partition, string);
        load!(SIZES, "sizes", Size, string);
        load!(IMAGES, "images", Image, string);
        load!(PROJECTS, "projects", Project, string);
        load!(NETWORKS, "networks", Network, string);
        load!(IPS, "ips", Ip, address);
        load!(MACHINES, "machines", Machine, string);
        Ok(out)
    }

    /// Writes a batch in one durable transaction (fsync before returning).
    pub fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut ips = tx.open_table(IPS).map_err(storage)?;
            let mut networks = tx.open_table(NETWORKS).map_err(storage)?;
            let mut machines = tx.open_table(MACHINES).map_err(storage)?;
            let mut partitions = tx.open_table(PARTITIONS).map_err(storage)?;
            let mut sizes = tx.open_table(SIZES).map_err(storage)?;
            let mut images = tx.open_table(IMAGES).map_err(storage)?;
            let mut projects = tx.open_table(PROJECTS).map_err(storage)?;
            for change in changes {
                match change {
                    Change::Ip(k, v) => write(&mut ips, &k.to_string(), v)?,
                    Change::Network(k, v) => write(&mut networks, k, v)?,
                    Change::Machine(k, v) => write(&mut machines, k, v)?,
                    Change::Partition(k, v) => write(&mut partitions, k, v)?,
                    Change::Size(k, v) => write(&mut sizes, k, v)?,
                    Change::Image(k, v) => write(&mut images, k, v)?,
                    Change::Project(k, v) => write(&mut projects, k, v)?,
                }
            }
        }
        tx.commit().map_err(storage)
    }
}

fn decode<T: DeserializeOwned>(
    table: &'static str,
    key: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        table,
        key: key.to_string(),
        source,
    })
}

fn write<T: Serialize>(
    table: &mut redb::Table<&str, &[u8]>,
    key: &str,
    value: &Option<T>,
) -> Result<(), StoreError> {
    match value {
        Some(v) => {
            let bytes = serde_json::to_vec(v).map_err(storage)?;
            table.insert(key, bytes.as_slice()).map_err(storage)?;
        }
        None => {
            table.remove(key).map_err(storage)?;
        }
    }
    Ok(())
}
