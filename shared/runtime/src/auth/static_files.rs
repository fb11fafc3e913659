//! Credentials for places without Kubernetes (`metal-mesh up`, compose): kube-apiserver's static
//! token file (`token,user,uid,"group1,group2"`) and an allow file mapping users and groups to
//! path prefixes and verbs.

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::UserInfo;

/// The users of a static token file. Only digests of the tokens are kept.
#[derive(Debug, Clone, Default)]
pub struct StaticTokens {
    entries: Vec<([u8; 32], UserInfo)>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl StaticTokens {
    /// Parses kube-apiserver's `--token-auth-file` format: CSV lines `token,user,uid` with an
    /// optional fourth column of comma-separated groups (quoted when there are several); `#`
    /// comments and blank lines are skipped. Errors name the line, never the token.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut entries: Vec<([u8; 32], UserInfo)> = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| format!("not CSV: {e}"))?;
            let line = record.position().map_or(0, |p| p.line());
            if record.iter().all(str::is_empty) {
                continue;
            }
            if !(3..=4).contains(&record.len()) {
                return Err(format!(
                    "line {line}: expected token,user,uid[,\"groups\"], found {} columns",
                    record.len()
                ));
            }
            let (token, user) = (&record[0], &record[1]);
            if token.is_empty() || user.is_empty() {
                return Err(format!(
                    "line {line}: the token and the user must not be empty"
                ));
            }
            let hash = digest(token);
            if entries.iter().any(|(known, _)| *known == hash) {
                return Err(format!("line {line}: repeats the token of an earlier line"));
            }
            let groups = record
                .get(3)
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect();
            entries.push((
                hash,
                UserInfo {
                    username: user.to_string(),
                    uid: record[2].to_string(),
                    groups,
                },
            ));
        }
        Ok(Self { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The user of `token`. Every entry is compared, in constant time, so the answer's timing
    /// tells nothing about which token came close.
    pub fn lookup(&self, token: &str) -> Option<&UserInfo> {
        let probe = digest(token);
        let mut found = None;
        for (hash, user) in &self.entries {
            if bool::from(hash.ct_eq(&probe)) {
                found = Some(user);
            }
        }
        found
    }
}

/// One entry of the allow file.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Path prefixes, matched segment by segment: `/v1/loadbalancers` covers itself and
    /// everything below it; `/` covers every path.
    pub paths: Vec<String>,
    /// `get`, `create`, `update`, `delete`, or `*`.
    pub verbs: Vec<String>,
}

/// The allow file: a YAML list of [`AllowRule`]s; a request is allowed when any rule covers its
/// user or one of its groups, its path and its verb.
#[derive(Debug, Clone, Default)]
pub struct AllowRules(Vec<AllowRule>);

impl AllowRules {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rules: Vec<AllowRule> = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        for (i, rule) in rules.iter().enumerate() {
            if rule.users.is_empty() && rule.groups.is_empty() {
                return Err(format!("rule {i}: names no users and no groups"));
            }
            if rule.verbs.is_empty() {
                return Err(format!("rule {i}: names no verbs"));
            }
            if let Some(path) = rule.paths.iter().find(|p| !p.starts_with('/')) {
                return Err(format!("rule {i}: path {path:?} does not start with /"));
            }
            if rule.paths.is_empty() {
                return Err(format!("rule {i}: names no paths"));
            }
        }
        Ok(Self(rules))
    }

    pub fn allows(&self, user: &UserInfo, verb: &str, path: &str) -> bool {
        self.0.iter().any(|rule| {
            let who = rule.users.contains(&user.username)
                || rule.groups.iter().any(|g| user.groups.contains(g));
            let what = rule.verbs.iter().any(|v| v == "*" || v == verb);
            let r#where = rule.paths.iter().any(|p| covers(p, path));
            who && what && r#where
        })
    }
}

/// Whether the prefix `prefix` covers `path` segment-wise.
fn covers(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# tokens of this mesh
s3cr3t,admin,1,\"system:masters,ops\"
viewer-token , viewer , 2
\n
sa-token,system:serviceaccount:ns:ci,3,ci
";

    #[test]
    fn the_static_token_format_is_read_like_kube_apiserver() {
        let tokens = StaticTokens::parse(FILE).unwrap();
        assert_eq!(tokens.len(), 3);
        let admin = tokens.lookup("s3cr3t").unwrap();
        assert_eq!(admin.username, "admin");
        assert_eq!(admin.uid, "1");
        assert_eq!(admin.groups, ["system:masters", "ops"]);
        let viewer = tokens.lookup("viewer-token").unwrap();
        assert_eq!(
            (viewer.username.as_str(), viewer.groups.len()),
            ("viewer", 0)
        );
        assert_eq!(tokens.lookup("ci").map(|u| &u.username), None);
        assert!(tokens.lookup("s3cr3").is_none());
        assert!(tokens.lookup("").is_none());
    }

    #[test]
    fn bad_token_files_name_the_line_never_the_token() {
        for (text, needle) in [
            ("a,b\n", "line 1"),
            ("a,b,c\nonly-token\n", "line 2"),
            ("a,b,c,d,e\n", "5 columns"),
            (",user,1\n", "must not be empty"),
            ("dup,a,1\ndup,b,2\n", "repeats"),
        ] {
            let err = StaticTokens::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(!err.contains("dup,"), "{err}");
        }
    }

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn allow_rules_match_user_or_group_path_prefix_and_verb() {
        let rules = AllowRules::parse(
            "- users: [admin]\n  paths: [/]\n  verbs: ['*']\n\
             - groups: [viewers]\n  paths: [/v1/loadbalancers, /metrics]\n  verbs: [get]\n",
        )
        .unwrap();
        let admin = user("admin", &[]);
        let bob = user("bob", &["viewers"]);
        let eve = user("eve", &["others"]);
        assert!(rules.allows(&admin, "delete", "/v1/loadbalancers/a/b"));
        assert!(rules.allows(&bob, "get", "/v1/loadbalancers"));
        assert!(rules.allows(&bob, "get", "/v1/loadbalancers/a/b"));
        assert!(rules.allows(&bob, "get", "/metrics"));
        assert!(!rules.allows(&bob, "get", "/v1/loadbalancersx"));
        assert!(!rules.allows(&bob, "create", "/v1/loadbalancers"));
        assert!(!rules.allows(&bob, "get", "/v1/metallb"));
        assert!(!rules.allows(&eve, "get", "/metrics"));
    }

    #[test]
    fn allow_files_are_validated() {
        for (text, needle) in [
            ("- paths: [/]\n  verbs: [get]\n", "no users and no groups"),
            ("- users: [a]\n  paths: [/]\n  verbs: []\n", "no verbs"),
            (
                "- users: [a]\n  paths: [v1]\n  verbs: [get]\n",
                "does not start with /",
            ),
            ("- users: [a]\n  paths: []\n  verbs: [get]\n", "no paths"),
            ("- users: [a]\n  path: [/]\n  verbs: [get]\n", "path"),
            ("users: a", ""),
        ] {
            let err = AllowRules::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
