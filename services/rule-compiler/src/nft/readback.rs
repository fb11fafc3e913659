//! After an apply, the kernel's table is read back and compared with what was meant: the same
//! chains, sets and maps, by name. Rules, counters and elements are not listed (nft fetches
//! every set element for those listings: seconds for 100 000); they arrive in the same
//! transaction, which the kernel commits whole or not at all. A mismatch means the kernel
//! holds something else than the compiler produced (another writer, a partial load) and the
//! apply counts as failed.

use std::collections::BTreeSet;

use serde_json::Value;

/// The names a table consists of, comparable between our text and the kernel's listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub chains: BTreeSet<String>,
    /// Sets and maps.
    pub sets: BTreeSet<String>,
}

impl Shape {
    /// The shape of a ruleset as the compiler renders it (declarations one per line).
    pub fn of_text(ruleset: &str) -> Self {
        let mut shape = Shape::default();
        for line in ruleset.lines().map(str::trim) {
            let name = |rest: &str| rest.trim_end_matches(" {").to_string();
            if let Some(rest) = line.strip_prefix("chain ") {
                shape.chains.insert(name(rest));
            } else if let Some(rest) = line
                .strip_prefix("set ")
                .or_else(|| line.strip_prefix("map "))
            {
                shape.sets.insert(name(rest));
            }
        }
        shape
    }

    /// The shape of table `inet <table>` in `nft -j list` output.
    pub fn of_json(json: &Value, table: &str) -> Self {
        let mut shape = Shape::default();
        let items = json["nftables"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let ours = |o: &Value| o["family"] == "inet" && o["table"] == table;
        let name = |o: &Value| o["name"].as_str().unwrap_or_default().to_string();
        for item in items {
            if let Some(c) = item.get("chain").filter(|c| ours(c)) {
                shape.chains.insert(name(c));
            } else if let Some(s) = item
                .get("set")
                .or_else(|| item.get("map"))
                .filter(|s| ours(s))
            {
                shape.sets.insert(name(s));
            }
        }
        shape
    }

    /// The differences, for the error message; empty when equal.
    pub fn differences(&self, kernel: &Shape) -> Vec<String> {
        let mut out = Vec::new();
        if self.chains != kernel.chains {
            out.push(format!(
                "chains: want {:?}, kernel has {:?}",
                self.chains, kernel.chains
            ));
        }
        if self.sets != kernel.sets {
            out.push(format!(
                "sets: want {:?}, kernel has {:?}",
                self.sets, kernel.sets
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_and_kernel_listing_compare_by_name() {
        let text = "table inet firewall {\n\tset cluster_prefixes {\n\t\ttype ipv4_addr\n\t}\n\tmap egress_tcp_v4 {\n\t}\n\tchain r_0 {\n\t\tcounter accept\n\t}\n\tchain forward {\n\t}\n}\n";
        let kernel = json!({"nftables": [
            {"chain": {"family": "inet", "table": "firewall", "name": "forward"}},
            {"chain": {"family": "inet", "table": "firewall", "name": "r_0"}},
            {"chain": {"family": "inet", "table": "metal", "name": "input"}},
            {"set": {"family": "inet", "table": "firewall", "name": "cluster_prefixes"}},
            {"map": {"family": "inet", "table": "firewall", "name": "egress_tcp_v4"}}
        ]});
        let want = Shape::of_text(text);
        assert!(
            want.differences(&Shape::of_json(&kernel, "firewall"))
                .is_empty()
        );
        let mut partial = kernel.clone();
        partial["nftables"].as_array_mut().unwrap().remove(1);
        let diff = want.differences(&Shape::of_json(&partial, "firewall"));
        assert_eq!(diff.len(), 1);
        assert!(diff[0].starts_with("chains:"), "{diff:?}");
    }
}
