//! Splitting overlapping (address range × port range) boxes into disjoint map elements.
//!
//! The compiler puts every CIDR × port pair of every policy into one nftables verdict map per
//! direction, protocol and family, so a packet costs one lookup however many policies there
//! are. nft rejects overlapping elements in a map, and two policies may well allow the same
//! traffic; so the plane is cut into disjoint pieces, each labelled with the ordered list of
//! the rules ("owners") that cover it. A piece with one owner jumps straight to that rule's
//! chain; a piece with several jumps to a chain that tries them in order, which is what a
//! list of rules in a chain would have done (first match counts and accepts).

use std::collections::BTreeSet;

use super::ranges::{AddrRange, PortRange};

/// One rule's claim: these addresses on these ports belong to chain `owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Claim {
    pub addrs: AddrRange,
    pub ports: PortRange,
    pub owner: u32,
}

/// A disjoint piece of the plane and the rules covering it, in owner order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub addrs: AddrRange,
    pub ports: PortRange,
    pub owners: Vec<u32>,
}

/// Port ranges of one address interval, each with its owners.
type PortLayout = Vec<(PortRange, Vec<u32>)>;

/// Disjoint pieces covering exactly the union of `claims` (all of one family), sorted by
/// address then port.
///
/// Claims are first grouped into clusters that can overlap at all: claims whose port ranges
/// overlap (transitively), then within those, whose address ranges overlap. Claims of
/// different clusters never intersect, so each cluster is cut on its own; cutting everything
/// together would split a wide CIDR at every boundary of unrelated narrow ones on other ports
/// and multiply the element count.
pub fn decompose(claims: &[Claim]) -> Vec<Piece> {
    let mut claims = claims.to_vec();
    let mut pieces = Vec::with_capacity(claims.len());
    claims.sort_unstable_by_key(|c| (c.ports.lo, c.ports.hi));
    for ports in groups(&mut claims, |c| (c.ports.lo as u128, c.ports.hi as u128)) {
        ports.sort_unstable_by_key(|c| (c.addrs.lo, c.addrs.hi));
        for cluster in groups(ports, |c| (c.addrs.lo, c.addrs.hi)) {
            if let [one] = cluster {
                // Most clusters are one claim: nothing to cut.
                pieces.push(Piece {
                    addrs: one.addrs,
                    ports: one.ports,
                    owners: vec![one.owner],
                });
            } else {
                pieces.extend(cut(cluster));
            }
        }
    }
    pieces.sort_unstable_by_key(|p| (p.addrs, p.ports));
    pieces
}

/// Splits `claims`, sorted by the start of `range`, into runs whose ranges overlap
/// transitively.
fn groups(claims: &mut [Claim], range: impl Fn(&Claim) -> (u128, u128)) -> Vec<&mut [Claim]> {
    let mut bounds = Vec::new();
    let mut start = 0;
    let mut reach: Option<u128> = None;
    for (i, c) in claims.iter().enumerate() {
        let (lo, hi) = range(c);
        match reach {
            Some(r) if lo <= r => reach = Some(r.max(hi)),
            _ => {
                if i > 0 {
                    bounds.push(start..i);
                }
                start = i;
                reach = Some(hi);
            }
        }
    }
    if !claims.is_empty() {
        bounds.push(start..claims.len());
    }
    let mut out = Vec::with_capacity(bounds.len());
    let mut rest = claims;
    let mut taken = 0;
    for b in bounds {
        let (group, tail) = rest.split_at_mut(b.end - taken);
        taken = b.end;
        rest = tail;
        out.push(group);
    }
    out
}

/// [`decompose`] for one cluster: a sweep over the address breakpoints; neighbouring address
/// ranges with identical port layouts are joined.
fn cut(claims: &[Claim]) -> Vec<Piece> {
    if claims.is_empty() {
        return Vec::new();
    }
    let family = claims[0].addrs.family;
    let top = AddrRange::all(family).hi;
    debug_assert!(claims.iter().all(|c| c.addrs.family == family));
    // Address breakpoints: where some claim starts or ends (exclusive end as start of next).
    let mut points: BTreeSet<u128> = BTreeSet::new();
    for c in claims {
        points.insert(c.addrs.lo);
        if let Some(next) = c.addrs.hi.checked_add(1) {
            points.insert(next);
        }
    }
    let points: Vec<u128> = points.into_iter().collect();
    let mut by_start: Vec<&Claim> = claims.iter().collect();
    by_start.sort_by_key(|c| c.addrs.lo);

    let mut pieces: Vec<Piece> = Vec::new();
    // (address range, its port layout) of the previous elementary interval, to join neighbours.
    let mut open: Option<(AddrRange, PortLayout)> = None;
    let mut active: Vec<&Claim> = Vec::new();
    let mut next_claim = 0;
    for (i, &lo) in points.iter().enumerate() {
        // The last breakpoint opens an interval up to the top of the address space; it is
        // empty unless a claim reaches the top.
        let hi = points.get(i + 1).map_or(top, |&n| n - 1);
        active.retain(|c| c.addrs.hi >= lo);
        while next_claim < by_start.len() && by_start[next_claim].addrs.lo <= lo {
            if by_start[next_claim].addrs.hi >= lo {
                active.push(by_start[next_claim]);
            }
            next_claim += 1;
        }
        let layout = if active.is_empty() {
            Vec::new()
        } else {
            port_layout(&active)
        };
        let range = AddrRange { family, lo, hi };
        match &mut open {
            Some((prev, prev_layout))
                if *prev_layout == layout && prev.hi.checked_add(1) == Some(lo) =>
            {
                prev.hi = hi;
            }
            _ => {
                if let Some((prev, prev_layout)) = open.take() {
                    flush(&mut pieces, prev, prev_layout);
                }
                open = Some((range, layout));
            }
        }
    }
    if let Some((prev, prev_layout)) = open {
        flush(&mut pieces, prev, prev_layout);
    }
    pieces
}

fn flush(pieces: &mut Vec<Piece>, addrs: AddrRange, layout: PortLayout) {
    for (ports, owners) in layout {
        pieces.push(Piece {
            addrs,
            ports,
            owners,
        });
    }
}

/// The disjoint port ranges covered by `active` claims, each with its sorted owners;
/// neighbouring ranges with the same owners joined.
fn port_layout(active: &[&Claim]) -> PortLayout {
    let mut points: BTreeSet<u32> = BTreeSet::new();
    for c in active {
        points.insert(c.ports.lo as u32);
        points.insert(c.ports.hi as u32 + 1);
    }
    let points: Vec<u32> = points.into_iter().collect();
    let mut out: PortLayout = Vec::new();
    for w in points.windows(2) {
        let (lo, hi) = (w[0], w[1] - 1);
        let mut owners: Vec<u32> = active
            .iter()
            .filter(|c| c.ports.lo as u32 <= lo && hi <= c.ports.hi as u32)
            .map(|c| c.owner)
            .collect();
        if owners.is_empty() {
            continue;
        }
        owners.sort_unstable();
        owners.dedup();
        let range = PortRange {
            lo: lo as u16,
            hi: hi as u16,
        };
        match out.last_mut() {
            Some((prev, prev_owners)) if *prev_owners == owners && prev.hi as u32 + 1 == lo => {
                prev.hi = range.hi;
            }
            _ => out.push((range, owners)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ranges::Family;
    use proptest::prelude::*;

    fn claim(cidr: &str, lo: u16, hi: u16, owner: u32) -> Claim {
        Claim {
            addrs: AddrRange::from_net(&cidr.parse().unwrap()),
            ports: PortRange { lo, hi },
            owner,
        }
    }

    fn text(pieces: &[Piece]) -> Vec<String> {
        pieces
            .iter()
            .map(|p| format!("{} . {} : {:?}", p.addrs, p.ports, p.owners))
            .collect()
    }

    #[test]
    fn disjoint_claims_stay_as_they_are() {
        let pieces = decompose(&[
            claim("10.0.0.0/8", 443, 443, 0),
            claim("192.0.2.0/24", 80, 90, 1),
        ]);
        assert_eq!(
            text(&pieces),
            ["10.0.0.0/8 . 443 : [0]", "192.0.2.0/24 . 80-90 : [1]"]
        );
    }

    #[test]
    fn overlaps_are_split_and_owned_by_both_in_order() {
        let pieces = decompose(&[
            claim("10.0.0.0/8", 80, 443, 1),
            claim("10.1.0.0/16", 443, 443, 0),
        ]);
        assert_eq!(
            text(&pieces),
            [
                "10.0.0.0/16 . 80-443 : [1]",
                "10.1.0.0/16 . 80-442 : [1]",
                "10.1.0.0/16 . 443 : [0, 1]",
                "10.2.0.0-10.255.255.255 . 80-443 : [1]",
            ]
        );
    }

    #[test]
    fn the_whole_space_works_for_both_families() {
        let v4 = decompose(&[claim("0.0.0.0/0", 0, 65535, 0)]);
        assert_eq!(text(&v4), ["0.0.0.0/0 . 0-65535 : [0]"]);
        let v6 = decompose(&[claim("::/0", 53, 53, 0), claim("2001:db8::/32", 53, 53, 1)]);
        assert_eq!(
            text(&v6),
            [
                "::-2001:db7:ffff:ffff:ffff:ffff:ffff:ffff . 53 : [0]",
                "2001:db8::/32 . 53 : [0, 1]",
                "2001:db9::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff . 53 : [0]",
            ]
        );
    }

    fn arb_claim() -> impl Strategy<Value = Claim> {
        (0u32..64, 26u8..=32, 0u16..20, 0u16..5, 0u32..6).prop_map(
            |(net, len, port, span, owner)| {
                let base = (10u32 << 24) | (net << 4);
                let mask = if len == 32 {
                    u32::MAX
                } else {
                    !((1u32 << (32 - len)) - 1)
                };
                let lo = (base & mask) as u128;
                let hi = lo | (!mask) as u128;
                Claim {
                    addrs: AddrRange {
                        family: Family::V4,
                        lo,
                        hi,
                    },
                    ports: PortRange {
                        lo: port,
                        hi: port + span,
                    },
                    owner,
                }
            },
        )
    }

    proptest! {
        /// Every (address, port) point is covered by exactly the pieces' owners that cover it
        /// in the input, and pieces never overlap.
        #[test]
        fn pieces_are_disjoint_and_exact(claims in proptest::collection::vec(arb_claim(), 1..12)) {
            let pieces = decompose(&claims);
            let lo = claims.iter().map(|c| c.addrs.lo).min().unwrap().saturating_sub(2);
            let hi = claims.iter().map(|c| c.addrs.hi).max().unwrap() + 2;
            for addr in lo..=hi {
                for port in 0u16..26 {
                    let mut want: Vec<u32> = claims.iter()
                        .filter(|c| c.addrs.lo <= addr && addr <= c.addrs.hi && c.ports.lo <= port && port <= c.ports.hi)
                        .map(|c| c.owner).collect();
                    want.sort_unstable();
                    want.dedup();
                    let covering: Vec<&Piece> = pieces.iter()
                        .filter(|p| p.addrs.lo <= addr && addr <= p.addrs.hi && p.ports.lo <= port && port <= p.ports.hi)
                        .collect();
                    prop_assert!(covering.len() <= 1, "overlap at {addr} {port}");
                    let got = covering.first().map(|p| p.owners.clone()).unwrap_or_default();
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
