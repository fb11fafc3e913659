//! Stored entities. IPs, networks and machines carry a `rev` for optimistic updates;
//! partitions, sizes, images and projects are stored in their wire form.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use metal_api_sdk::model::{
    Labels, MachineAllocation, MachineBios, MachineHardware, MachineRecentProvisioningEvents,
    MachineState, Timestamp,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ip {
    pub address: IpAddr,
    pub allocationuuid: String,
    pub name: String,
    pub description: String,
    pub networkid: String,
    pub projectid: String,
    pub ip_type: metal_api_sdk::model::IpType,
    pub tags: Vec<String>,
    pub created: Timestamp,
    pub changed: Timestamp,
    pub rev: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub partitionid: Option<String>,
    pub projectid: Option<String>,
    pub parentnetworkid: Option<String>,
    pub prefixes: Vec<IpNet>,
    pub destinationprefixes: Vec<IpNet>,
    /// Keyed "IPv4" / "IPv6".
    pub defaultchildprefixlength: BTreeMap<String, u8>,
    pub vrf: Option<u32>,
    pub vrfshared: bool,
    pub shared: bool,
    pub nat: bool,
    pub privatesuper: bool,
    pub underlay: bool,
    pub labels: Labels,
    pub additional_announcable_cidrs: Vec<String>,
    pub created: Timestamp,
    pub changed: Timestamp,
    pub rev: u64,
}

impl Network {
    /// Private networks are children of a private super network.
    pub fn is_private(&self) -> bool {
        self.parentnetworkid.is_some()
    }

    /// metal-api v2 network type.
    pub fn network_type(&self) -> &'static str {
        match (
            self.privatesuper,
            self.underlay,
            self.is_private(),
            self.shared,
        ) {
            (true, ..) => "super",
            (_, true, ..) => "underlay",
            (_, _, true, true) => "child-shared",
            (_, _, true, false) => "child",
            _ => "external",
        }
    }

    pub fn nat_type(&self) -> &'static str {
        if self.nat { "ipv4-masq" } else { "none" }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub partitionid: String,
    pub sizeid: String,
    pub rackid: Option<String>,
    pub chassis: Option<String>,
    pub hardware: MachineHardware,
    pub bios: MachineBios,
    pub state: MachineState,
    /// "Alive" | "Dead" | "Unknown"
    pub liveliness: String,
    pub events: MachineRecentProvisioningEvents,
    pub tags: Vec<String>,
    pub allocation: Option<MachineAllocation>,
    pub created: Timestamp,
    pub changed: Timestamp,
    pub rev: u64,
}
