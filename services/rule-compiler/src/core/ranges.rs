//! Address and port ranges. CIDRs become closed integer ranges so that `except` can be
//! subtracted exactly and overlapping rules can be split into disjoint nftables map elements
//! (nft rejects overlapping intervals in a map).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// IPv4 or IPv6: every rule and map exists once per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
    /// The nft payload keyword: `ip` or `ip6`.
    pub fn nft(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
    /// The nft address type: `ipv4_addr` or `ipv6_addr`.
    pub fn addr_type(self) -> &'static str {
        match self {
            Family::V4 => "ipv4_addr",
            Family::V6 => "ipv6_addr",
        }
    }
    pub fn suffix(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }
    fn max(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }
    pub const BOTH: [Family; 2] = [Family::V4, Family::V6];
}

/// A closed range of addresses of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddrRange {
    pub family: Family,
    pub lo: u128,
    pub hi: u128,
}

impl AddrRange {
    pub fn from_net(net: &IpNet) -> Self {
        let (family, lo, hi) = match net {
            IpNet::V4(n) => (
                Family::V4,
                u32::from(n.network()) as u128,
                u32::from(n.broadcast()) as u128,
            ),
            IpNet::V6(n) => (
                Family::V6,
                u128::from(n.network()),
                u128::from(n.broadcast()),
            ),
        };
        Self { family, lo, hi }
    }

    pub fn host(ip: IpAddr) -> Self {
        Self::from_net(&IpNet::from(ip))
    }

    /// The whole address space of `family` (`0.0.0.0/0`, `::/0`).
    pub fn all(family: Family) -> Self {
        Self {
            family,
            lo: 0,
            hi: family.max(),
        }
    }

    pub fn contains(&self, other: &AddrRange) -> bool {
        self.family == other.family && self.lo <= other.lo && other.hi <= self.hi
    }

    fn addr(&self, v: u128) -> IpAddr {
        match self.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
        }
    }

    /// The prefix length when the range is exactly one CIDR.
    fn prefix_len(&self) -> Option<u8> {
        let bits: u32 = match self.family {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        let size_minus_one = self.hi - self.lo;
        // A CIDR block: size is a power of two and lo is aligned to it.
        if size_minus_one
            .checked_add(1)
            .is_some_and(|s| !s.is_power_of_two())
        {
            return None;
        }
        if self.lo & size_minus_one != 0 {
            return None;
        }
        let host_bits = 128 - size_minus_one.leading_zeros();
        Some((bits - host_bits) as u8)
    }
}

/// nft notation: `10.0.0.0/8`, `192.0.2.7`, or `192.0.2.7-192.0.2.9`.
impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = match self.family {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        match self.prefix_len() {
            Some(len) if len == full => self.write_addr(f, self.lo),
            Some(len) => {
                self.write_addr(f, self.lo)?;
                write!(f, "/{len}")
            }
            None => {
                self.write_addr(f, self.lo)?;
                f.write_str("-")?;
                self.write_addr(f, self.hi)
            }
        }
    }
}

impl AddrRange {
    /// IPv4 by hand: std's formatter supports padding and is the hot spot of rendering
    /// 100 000 elements.
    fn write_addr(&self, f: &mut fmt::Formatter<'_>, v: u128) -> fmt::Result {
        match self.family {
            Family::V4 => {
                let mut buf = [0u8; 15];
                let mut n = 0;
                for (i, octet) in (v as u32).to_be_bytes().into_iter().enumerate() {
                    if i > 0 {
                        buf[n] = b'.';
                        n += 1;
                    }
                    if octet >= 100 {
                        buf[n] = b'0' + octet / 100;
                        n += 1;
                    }
                    if octet >= 10 {
                        buf[n] = b'0' + (octet / 10) % 10;
                        n += 1;
                    }
                    buf[n] = b'0' + octet % 10;
                    n += 1;
                }
                f.write_str(std::str::from_utf8(&buf[..n]).expect("ASCII"))
            }
            Family::V6 => write!(f, "{}", self.addr(v)),
        }
    }
}

/// `block` minus every range in `except` (same family), as disjoint sorted ranges.
pub fn subtract(block: AddrRange, except: &[AddrRange]) -> Vec<AddrRange> {
    let mut holes: Vec<AddrRange> = except
        .iter()
        .filter(|e| e.family == block.family && e.hi >= block.lo && e.lo <= block.hi)
        .copied()
        .collect();
    holes.sort();
    let mut out = Vec::new();
    let mut next = Some(block.lo);
    for hole in holes {
        let Some(start) = next else { break };
        if hole.lo > start {
            out.push(AddrRange {
                hi: hole.lo - 1,
                lo: start,
                ..block
            });
        }
        next = if hole.hi >= block.hi {
            None
        } else {
            Some(start.max(hole.hi + 1))
        };
    }
    if let Some(start) = next {
        out.push(AddrRange { lo: start, ..block });
    }
    out
}

/// Sorted, with overlapping and adjacent ranges merged (nft anonymous sets reject overlaps).
pub fn merge(mut ranges: Vec<AddrRange>) -> Vec<AddrRange> {
    ranges.sort();
    let mut out: Vec<AddrRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if last.family == r.family && r.lo <= last.hi.saturating_add(1) => {
                last.hi = last.hi.max(r.hi);
            }
            _ => out.push(r),
        }
    }
    out
}

/// A closed range of ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const ALL: PortRange = PortRange {
        lo: 0,
        hi: u16::MAX,
    };
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// Sorted, overlapping and adjacent ranges merged.
pub fn merge_ports(mut ports: Vec<PortRange>) -> Vec<PortRange> {
    ports.sort();
    let mut out: Vec<PortRange> = Vec::with_capacity(ports.len());
    for p in ports {
        match out.last_mut() {
            Some(last) if p.lo as u32 <= last.hi as u32 + 1 => last.hi = last.hi.max(p.hi),
            _ => out.push(p),
        }
    }
    out
}

/// `{ a, b, c }` for nft.
pub fn nft_set<T: fmt::Display>(items: &[T]) -> String {
    let inner: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    format!("{{ {} }}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> AddrRange {
        AddrRange::from_net(&s.parse().unwrap())
    }

    #[test]
    fn cidrs_print_as_cidrs_and_hosts_as_addresses() {
        assert_eq!(r("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(r("192.0.2.7/32").to_string(), "192.0.2.7");
        assert_eq!(r("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(r("::/0").to_string(), "::/0");
        assert_eq!(r("2001:db8::/32").to_string(), "2001:db8::/32");
        let odd = AddrRange {
            lo: 1,
            hi: 3,
            family: Family::V4,
        };
        assert_eq!(odd.to_string(), "0.0.0.1-0.0.0.3");
    }

    #[test]
    fn except_is_cut_out_of_its_block() {
        let parts = subtract(r("10.0.0.0/24"), &[r("10.0.0.0/25"), r("10.0.0.200/32")]);
        let text: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
        assert_eq!(text, ["10.0.0.128-10.0.0.199", "10.0.0.201-10.0.0.255"]);
        assert!(subtract(r("10.0.0.0/24"), &[r("10.0.0.0/16")]).is_empty());
        assert_eq!(subtract(r("::/0"), &[r("::/1")]), vec![r("8000::/1")]);
        // An except of the other family or outside the block changes nothing.
        assert_eq!(
            subtract(r("10.0.0.0/8"), &[r("::/0"), r("11.0.0.0/8")]),
            vec![r("10.0.0.0/8")]
        );
    }

    #[test]
    fn merging_joins_overlaps_and_neighbours() {
        let merged = merge(vec![
            r("10.0.1.0/24"),
            r("10.0.0.0/24"),
            r("10.0.0.128/25"),
            r("::/0"),
        ]);
        assert_eq!(merged, vec![r("10.0.0.0/23"), r("::/0")]);
        let ports = merge_ports(vec![
            PortRange { lo: 80, hi: 90 },
            PortRange { lo: 85, hi: 85 },
            PortRange { lo: 91, hi: 100 },
            PortRange { lo: 443, hi: 443 },
        ]);
        assert_eq!(
            ports,
            vec![
                PortRange { lo: 80, hi: 100 },
                PortRange { lo: 443, hi: 443 }
            ]
        );
    }
}
