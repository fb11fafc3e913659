//! `toFQDNs` selectors: validation, matching, and the nft set name each one owns.

use std::sync::LazyLock;

use kube_resources::cwnp::FqdnSelector;
use regex::Regex;
use sha2::{Digest, Sha256};

/// IP family of an nft set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The nft set `type`.
    pub fn nft_type(&self) -> &'static str {
        match self {
            Family::V4 => "ipv4_addr",
            Family::V6 => "ipv6_addr",
        }
    }

    /// The value of `status.fqdn_state[].version`, as upstream writes it.
    pub fn version(&self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    pub fn of(ip: &std::net::IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
}

/// Lower-case and fully qualified (trailing dot): the form every cache key has.
pub fn normalize(name: &str) -> String {
    let mut out = name.to_ascii_lowercase();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// The nft set holding the addresses of everything `key` matches, for one family.
///
/// Upstream names a set per *resolved name* (md5 of the FQDN); we name one per *selector*,
/// because a pattern's set is the union of all names it matches: a rule then needs a single set
/// lookup, and a newly seen name needs no new set (hence no ruleset reload before its first
/// connection). The key is normalized first, so `Example.com` and `example.com.` (which match
/// the same names) share a set. `fqdn_` + 64 bits of sha256 keeps the name nft-safe, starting
/// with a letter and short (21 characters).
pub fn set_name(key: &str, family: Family) -> String {
    let mut hasher = Sha256::new();
    hasher.update(normalize(key).as_bytes());
    hasher.update([0u8]);
    hasher.update(family.nft_type().as_bytes());
    let digest = hex::encode(hasher.finalize());
    format!("fqdn_{}", &digest[..16])
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectorError {
    #[error("an FQDN selector needs exactly one of matchName and matchPattern")]
    NeitherOrBoth,
    #[error("invalid matchName {0:?}: must match ^([-a-zA-Z0-9_]+[.]?)+$")]
    InvalidName(String),
    #[error("invalid matchPattern {0:?}: must match ^([-a-zA-Z0-9_*]+[.]?)+$")]
    InvalidPattern(String),
}

// The CRD's validation patterns; checked again here because a CWNP may come from a store that
// skipped OpenAPI validation, and the text ends up in a regex and in nft comments.
static NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([-a-zA-Z0-9_]+[.]?)+$").expect("static regex"));
static PATTERN_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([-a-zA-Z0-9_*]+[.]?)+$").expect("static regex"));

#[derive(Clone, Debug)]
enum Kind {
    Name(String),
    Pattern(Regex),
    Everything,
}

/// A compiled `FqdnSelector`.
#[derive(Clone, Debug)]
pub struct Matcher {
    key: String,
    kind: Kind,
}

impl Matcher {
    pub fn new(selector: &FqdnSelector) -> Result<Matcher, SelectorError> {
        match (&selector.match_name, &selector.match_pattern) {
            (Some(name), None) => {
                if !NAME_RE.is_match(name) {
                    return Err(SelectorError::InvalidName(name.clone()));
                }
                Ok(Matcher {
                    key: name.clone(),
                    kind: Kind::Name(normalize(name)),
                })
            }
            (None, Some(pattern)) => {
                if !PATTERN_RE.is_match(pattern) {
                    return Err(SelectorError::InvalidPattern(pattern.clone()));
                }
                Ok(Matcher {
                    key: pattern.clone(),
                    kind: compile_pattern(pattern)
                        .ok_or_else(|| SelectorError::InvalidPattern(pattern.clone()))?,
                })
            }
            _ => Err(SelectorError::NeitherOrBoth),
        }
    }

    /// The `matchName` or `matchPattern` as written: the key of `status.fqdn_state`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The normalized name when this is a `matchName` selector.
    pub fn name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Name(n) => Some(n),
            _ => None,
        }
    }

    pub fn set_name(&self, family: Family) -> String {
        set_name(&self.key, family)
    }

    /// Whether `fqdn` (any case, with or without the trailing dot) is selected.
    pub fn matches(&self, fqdn: &str) -> bool {
        match &self.kind {
            Kind::Everything => true,
            Kind::Name(n) => normalize(fqdn) == *n,
            Kind::Pattern(re) => re.is_match(&normalize(fqdn)),
        }
    }
}

/// Upstream's translation: lower-case, make FQDN, `.` literal, `*` → `[-a-zA-Z0-9_.]*` (the dot
/// is included, so `*.example.com` also matches `a.b.example.com`), anchored. `*` alone matches
/// every name, including ones with characters outside that class.
fn compile_pattern(pattern: &str) -> Option<Kind> {
    let fqdn = normalize(pattern);
    if fqdn == "*." {
        return Some(Kind::Everything);
    }
    let mut re = String::from("^");
    for c in fqdn.chars() {
        match c {
            '.' => re.push_str(r"\."),
            '*' => re.push_str("[-a-zA-Z0-9_.]*"),
            // Validated above to be [-a-z0-9_]: literal outside a class.
            c => re.push(c),
        }
    }
    re.push('$');
    Regex::new(&re).ok().map(Kind::Pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> FqdnSelector {
        FqdnSelector {
            match_name: Some(n.into()),
            match_pattern: None,
        }
    }
    fn pattern(p: &str) -> FqdnSelector {
        FqdnSelector {
            match_name: None,
            match_pattern: Some(p.into()),
        }
    }

    #[test]
    fn normalize_lowercases_and_qualifies() {
        assert_eq!(normalize("Example.COM"), "example.com.");
        assert_eq!(normalize("example.com."), "example.com.");
    }

    #[test]
    fn family_strings() {
        assert_eq!(Family::V4.nft_type(), "ipv4_addr");
        assert_eq!(Family::V6.nft_type(), "ipv6_addr");
        assert_eq!(Family::V4.version(), "ip");
        assert_eq!(Family::V6.version(), "ip6");
    }

    #[test]
    fn selector_needs_exactly_one_field() {
        let both = FqdnSelector {
            match_name: Some("a.com".into()),
            match_pattern: Some("*.a.com".into()),
        };
        assert_eq!(
            Matcher::new(&both).unwrap_err(),
            SelectorError::NeitherOrBoth
        );
        assert_eq!(
            Matcher::new(&FqdnSelector::default()).unwrap_err(),
            SelectorError::NeitherOrBoth
        );
    }

    #[test]
    fn crd_regexes_are_enforced() {
        assert!(matches!(
            Matcher::new(&name("*.a.com")),
            Err(SelectorError::InvalidName(_))
        ));
        assert!(matches!(
            Matcher::new(&name("a b.com")),
            Err(SelectorError::InvalidName(_))
        ));
        assert!(matches!(
            Matcher::new(&name("")),
            Err(SelectorError::InvalidName(_))
        ));
        assert!(matches!(
            Matcher::new(&pattern("a..com")),
            Err(SelectorError::InvalidPattern(_))
        ));
        assert!(matches!(
            Matcher::new(&pattern("(a|b).com")),
            Err(SelectorError::InvalidPattern(_))
        ));
    }

    #[test]
    fn match_name_is_exact_after_normalizing() {
        let m = Matcher::new(&name("Example.com")).unwrap();
        assert_eq!(m.key(), "Example.com");
        assert_eq!(m.name(), Some("example.com."));
        assert!(m.matches("example.com."));
        assert!(m.matches("EXAMPLE.com"));
        assert!(!m.matches("www.example.com."));
        assert!(!m.matches("example.co."));
    }

    #[test]
    fn pattern_star_spans_labels() {
        let m = Matcher::new(&pattern("*.example.com")).unwrap();
        assert_eq!(m.name(), None);
        assert!(m.matches("www.example.com."));
        assert!(m.matches("a.b.c.example.com."));
        assert!(m.matches("WWW.Example.Com"));
        // `.` is literal and the pattern is anchored.
        assert!(!m.matches("example.com."));
        assert!(!m.matches("wwwxexample.com."));
        assert!(!m.matches("www.example.com.evil.org."));
        assert!(!m.matches("www.example.community."));
    }

    #[test]
    fn pattern_star_inside_a_label() {
        let m = Matcher::new(&pattern("api-*.example.com")).unwrap();
        assert!(m.matches("api-eu.example.com."));
        assert!(m.matches("api-.example.com."));
        assert!(!m.matches("web-eu.example.com."));
    }

    #[test]
    fn lone_star_matches_everything() {
        let m = Matcher::new(&pattern("*")).unwrap();
        assert!(m.matches("example.com."));
        assert!(m.matches("x."));
        assert!(m.matches("weird~name.example."));
    }

    #[test]
    fn set_names_are_stable_distinct_and_nft_safe() {
        let a4 = set_name("example.com", Family::V4);
        assert_eq!(a4, set_name("example.com", Family::V4));
        assert_eq!(a4, set_name("Example.com.", Family::V4));
        assert_ne!(a4, set_name("example.com", Family::V6));
        assert_ne!(a4, set_name("*.example.com", Family::V4));
        assert_eq!(a4.len(), 21);
        assert!(a4.starts_with("fqdn_"));
        assert!(a4[5..].chars().all(|c| c.is_ascii_hexdigit()));
        let m = Matcher::new(&name("example.com")).unwrap();
        assert_eq!(m.set_name(Family::V4), a4);
    }
}
