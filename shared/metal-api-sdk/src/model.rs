//! Wire types of metal-api v1, the subset the mesh uses.
//!
//! Field names, required fields and enum strings follow metal-api's Swagger definitions
//! (`v1.IPResponse`, …). Responses carry every field the spec requires; optional fields are
//! omitted when absent (the spec has no `nullable`). Requests are lenient: unknown fields are
//! ignored and the fields the Go client sends as `null` are `Option`s.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Timestamps on the wire: RFC 3339, UTC.
pub type Timestamp = DateTime<Utc>;

pub type Labels = BTreeMap<String, String>;

// ----------------------------------------------------------------------------------------
// errors, health, version

/// The error body of every metal-api failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = httperrors::HTTPErrorResponse)]
pub struct HttpErrorResponse {
    pub statuscode: i32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = rest::HealthResponse)]
pub struct HealthResponse {
    /// "healthy" or "unhealthy"
    pub status: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub services: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = rest::version)]
pub struct Version {
    pub name: String,
    pub version: String,
    pub revision: String,
    pub gitsha1: String,
    pub builddate: String,
    pub min_client_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_version: Option<String>,
}

// ----------------------------------------------------------------------------------------
// IP

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IpType {
    Ephemeral,
    Static,
}

impl IpType {
    /// Upstream rule: exactly "static" means static, anything else (also absent) ephemeral.
    pub fn from_request(value: Option<&str>) -> Self {
        match value {
            Some("static") => IpType::Static,
            _ => IpType::Ephemeral,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum AddressFamily {
    IPv4,
    IPv6,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::IPResponse)]
pub struct IpResponse {
    pub ipaddress: String,
    pub allocationuuid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub networkid: String,
    pub projectid: String,
    #[serde(rename = "type")]
    pub ip_type: IpType,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::IPAllocateRequest)]
pub struct IpAllocateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub networkid: String,
    #[serde(default)]
    pub projectid: String,
    /// "ephemeral" or "static"; anything else means ephemeral.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ip_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machineid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressfamily: Option<AddressFamily>,
}

/// `tags: null` (or absent) keeps the tags, `tags: []` clears them; `type: null` keeps the type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::IPUpdateRequest)]
pub struct IpUpdateRequest {
    pub ipaddress: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ip_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Every given field filters by equality, combined with AND; `tags` must all be present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::IPFindRequest)]
pub struct IpFindRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipaddress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocationuuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networkprefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networkid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ip_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machineid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressfamily: Option<AddressFamily>,
}

// ----------------------------------------------------------------------------------------
// network

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::NetworkUsage)]
pub struct NetworkUsage {
    pub available_ips: u64,
    pub used_ips: u64,
    pub available_prefixes: u64,
    pub used_prefixes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::NetworkConsumption)]
pub struct NetworkConsumption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<NetworkUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<NetworkUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::NetworkResponse)]
pub struct NetworkResponse {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitionid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parentnetworkid: Option<String>,
    pub prefixes: Vec<String>,
    pub destinationprefixes: Vec<String>,
    /// Child prefix length per address family, keyed "IPv4" / "IPv6".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaultchildprefixlength: Option<BTreeMap<String, u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrfshared: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    pub nat: bool,
    pub privatesuper: bool,
    pub underlay: bool,
    #[serde(default)]
    pub labels: Labels,
    #[serde(
        rename = "additionalAnnouncableCIDRs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_announcable_cidrs: Vec<String>,
    pub networktype: String,
    pub nattype: String,
    pub usage: NetworkUsage,
    pub consumption: NetworkConsumption,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<DateTime<Utc>>,
}

/// Admin create (PUT /v1/network).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::NetworkCreateRequest)]
pub struct NetworkCreateRequest {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitionid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parentnetworkid: Option<String>,
    #[serde(default)]
    pub prefixes: Vec<String>,
    #[serde(default)]
    pub destinationprefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaultchildprefixlength: Option<BTreeMap<String, u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrfshared: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    #[serde(default)]
    pub nat: bool,
    #[serde(default)]
    pub privatesuper: bool,
    #[serde(default)]
    pub underlay: bool,
    #[serde(default)]
    pub labels: Labels,
    #[serde(
        rename = "additionalAnnouncableCIDRs",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_announcable_cidrs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networktype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nattype: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::NetworkAllocateRequest)]
pub struct NetworkAllocateRequest {
    #[serde(default)]
    pub projectid: String,
    #[serde(default)]
    pub partitionid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub destinationprefixes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<bool>,
    /// Prefix length per address family, keyed "IPv4" / "IPv6".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<BTreeMap<String, u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressfamily: Option<AddressFamily>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::NetworkFindRequest)]
pub struct NetworkFindRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitionid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projectid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parentnetworkid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destinationprefixes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privatesuper: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressfamily: Option<AddressFamily>,
}

// ----------------------------------------------------------------------------------------
// partition, size, image, project

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::PartitionBootConfiguration)]
pub struct PartitionBootConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imageurl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernelurl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commandline: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::DNSServer)]
pub struct DnsServer {
    pub ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::NTPServer)]
pub struct NtpServer {
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::PartitionResponse)]
pub struct PartitionResponse {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Labels,
    pub bootconfig: PartitionBootConfiguration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mgmtserviceaddress: Option<String>,
    #[serde(default)]
    pub dns_servers: Vec<DnsServer>,
    #[serde(default)]
    pub ntp_servers: Vec<NtpServer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::PartitionCreateRequest)]
pub struct PartitionCreateRequest {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub bootconfig: PartitionBootConfiguration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mgmtserviceaddress: Option<String>,
    #[serde(default)]
    pub dns_servers: Vec<DnsServer>,
    #[serde(default)]
    pub ntp_servers: Vec<NtpServer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::SizeConstraint)]
pub struct SizeConstraint {
    /// cores | memory | storage | gpu
    #[serde(rename = "type")]
    pub constraint_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::SizeResponse)]
pub struct SizeResponse {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub constraints: Vec<SizeConstraint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::SizeCreateRequest)]
pub struct SizeCreateRequest {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub constraints: Vec<SizeConstraint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::ImageResponse)]
pub struct ImageResponse {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// "machine" and/or "firewall"
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(rename = "expirationDate")]
    pub expiration_date: DateTime<Utc>,
    #[serde(default)]
    pub usedby: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::ImageCreateRequest)]
pub struct ImageCreateRequest {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(
        rename = "expirationDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::ImageFindRequest)]
pub struct ImageFindRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::Meta)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apiversion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::Quota)]
pub struct Quota {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::QuotaSet)]
pub struct QuotaSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Quota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<Quota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Quota>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Quota>,
}

/// Also the body of PUT /v1/project (`v1.ProjectCreateRequest` has the same fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::ProjectResponse)]
pub struct ProjectResponse {
    #[serde(default)]
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<QuotaSet>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::ProjectFindRequest)]
pub struct ProjectFindRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

// ----------------------------------------------------------------------------------------
// machine and firewall

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineBIOS)]
pub struct MachineBios {
    pub vendor: String,
    pub version: String,
    pub date: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineNic)]
pub struct MachineNic {
    pub name: String,
    pub mac: String,
    pub identifier: String,
    #[serde(default)]
    #[schema(no_recursion)]
    pub neighbors: Vec<MachineNic>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineBlockDevice)]
pub struct MachineBlockDevice {
    pub name: String,
    pub size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineHardware)]
pub struct MachineHardware {
    pub cpu_cores: i32,
    pub memory: u64,
    #[serde(default)]
    pub disks: Vec<MachineBlockDevice>,
    #[serde(default)]
    pub nics: Vec<MachineNic>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::ChassisIdentifyLEDState)]
pub struct LedState {
    pub value: String,
    pub description: String,
}

/// `value` is "" (available), "LOCKED", "RESERVED" or "TAINTED".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineState)]
pub struct MachineState {
    pub value: String,
    pub description: String,
    pub metal_hammer_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineProvisioningEvent)]
pub struct MachineProvisioningEvent {
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineRecentProvisioningEvents)]
pub struct MachineRecentProvisioningEvents {
    #[serde(default)]
    pub log: Vec<MachineProvisioningEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_event: Option<MachineProvisioningEvent>,
    pub crash_loop: bool,
    pub failed_machine_reclaim: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineNetwork)]
pub struct MachineNetwork {
    pub networkid: String,
    pub prefixes: Vec<String>,
    pub ips: Vec<String>,
    pub destinationprefixes: Vec<String>,
    pub vrf: u32,
    pub asn: i64,
    pub nat: bool,
    pub private: bool,
    pub underlay: bool,
    pub projectid: String,
    /// v1 type: privateprimaryunshared | privateprimaryshared | privatesecondaryshared | external | underlay
    pub networktype: String,
    pub networktypev2: String,
    pub nattypev2: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::FirewallEgressRule)]
pub struct FirewallEgressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::FirewallIngressRule)]
pub struct FirewallIngressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub from: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::FirewallRules)]
pub struct FirewallRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<FirewallEgressRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<FirewallIngressRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MachineRole {
    Machine,
    Firewall,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineAllocation)]
pub struct MachineAllocation {
    pub allocationuuid: String,
    pub name: String,
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub project: String,
    pub role: MachineRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    pub ssh_pub_keys: Vec<String>,
    pub networks: Vec<MachineNetwork>,
    #[serde(default)]
    pub dns_servers: Vec<DnsServer>,
    #[serde(default)]
    pub ntp_servers: Vec<NtpServer>,
    pub succeeded: bool,
    pub reinstall: bool,
    pub creator: String,
    pub created: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_rules: Option<FirewallRules>,
}

/// Also the shape of `v1.FirewallResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineResponse)]
pub struct MachineResponse {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rackid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<SizeResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<MachineAllocation>,
    pub hardware: MachineHardware,
    pub bios: MachineBios,
    pub state: MachineState,
    pub ledstate: LedState,
    /// "Alive" | "Dead" | "Unknown"
    pub liveliness: String,
    pub events: MachineRecentProvisioningEvents,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<DateTime<Utc>>,
}

/// A machine allocated with role "firewall"; the same body as [`MachineResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(as = v1::FirewallResponse)]
pub struct FirewallResponse(pub MachineResponse);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineAllocationNetwork)]
pub struct MachineAllocationNetwork {
    pub networkid: String,
    #[serde(default = "default_true")]
    pub autoacquire: bool,
}

fn default_true() -> bool {
    true
}

/// Also the body of POST /v1/firewall/allocate (`v1.FirewallCreateRequest` adds `firewall_rules`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineAllocateRequest)]
pub struct MachineAllocateRequest {
    /// Allocate exactly this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub projectid: String,
    #[serde(default)]
    pub partitionid: String,
    #[serde(default)]
    pub sizeid: String,
    #[serde(default)]
    pub imageid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystemlayoutid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    #[serde(default)]
    pub ssh_pub_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<MachineAllocationNetwork>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ips: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<DnsServer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntp_servers: Option<Vec<NtpServer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_rules: Option<FirewallRules>,
}

/// `tags` and `ssh_pub_keys` replace the current ones only when non-empty; `description: null` keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineUpdateRequest)]
pub struct MachineUpdateRequest {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_pub_keys: Option<Vec<String>>,
}

/// Also the body of POST /v1/firewall/find. Exact-match filters combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineFindRequest)]
pub struct MachineFindRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizeid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rackid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_image_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_succeeded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_ips: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_prefixes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_vrfs: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_asns: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Our own extension (not in upstream metal-api, where machines register over gRPC):
/// adds a machine to the inventory of a partition, ready for allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = v1::MachineRegisterRequest)]
pub struct MachineRegisterRequest {
    pub id: String,
    pub partitionid: String,
    pub sizeid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rackid: Option<String>,
    /// Chassis serial, reported as the `machine.metal-stack.io/chassis` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chassis: Option<String>,
    #[serde(default)]
    pub hardware: MachineHardware,
    #[serde(default)]
    pub bios: MachineBios,
}
