//! Static bearer tokens, as kube-apiserver's `--token-auth-file` reads them: a CSV file of
//! `token,user,uid[,"group1,group2"]` lines, and the groups an authenticated user gets added.
//!
//! Tokens are secrets: no error message or `Debug` output here ever contains one.

use std::collections::HashMap;

use crate::rbac::split_service_account_user;

/// Every authenticated user is in this group.
pub const AUTHENTICATED: &str = "system:authenticated";
/// Every ServiceAccount is in this group, and in `system:serviceaccounts:<namespace>`.
pub const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// Who a token authenticates as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The user as a TokenReview reports it: with `system:serviceaccounts` and
    /// `system:serviceaccounts:<namespace>` for ServiceAccount usernames, then
    /// `system:authenticated`; groups already present are not repeated.
    pub fn authenticated(&self) -> Self {
        let mut groups = self.groups.clone();
        let mut add = |group: String| {
            if !groups.contains(&group) {
                groups.push(group);
            }
        };
        if let Some((namespace, _)) = split_service_account_user(&self.username) {
            add(SERVICE_ACCOUNTS.to_string());
            add(format!("{SERVICE_ACCOUNTS}:{namespace}"));
        }
        add(AUTHENTICATED.to_string());
        Self {
            groups,
            ..self.clone()
        }
    }
}

/// One line of a token file.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticToken {
    pub token: String,
    pub user: UserInfo,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &"<redacted>")
            .field("user", &self.user)
            .finish()
    }
}

/// A token file line that cannot be used; names the line, never its token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TokenFileError {
    pub line: u64,
    pub message: String,
}

/// Parses a token file. Blank lines are skipped; a UTF-8 byte order mark is ignored; fields
/// are trimmed; the groups column is optional and split on commas. A line with fewer than
/// three columns, an empty token or user, text that is not UTF-8, or a token already given
/// on an earlier line is an error naming the line.
pub fn parse_token_file(bytes: &[u8]) -> Result<Vec<StaticToken>, TokenFileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut tokens = Vec::new();
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        // The reader's own line count misses blank lines, and a record's offset is where the
        // blank lines before it start: count newlines up to its first byte instead.
        let line_at = |position: Option<&csv::Position>| {
            let mut offset = position.map_or(0, |p| p.byte() as usize).min(bytes.len());
            while offset < bytes.len() && matches!(bytes[offset], b'\r' | b'\n') {
                offset += 1;
            }
            1 + bytes[..offset].iter().filter(|b| **b == b'\n').count() as u64
        };
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| TokenFileError {
                line: line_at(e.position()),
                message: "unreadable CSV".into(),
            })?;
        if !more {
            break;
        }
        let line = line_at(record.position());
        let fail = |message: String| TokenFileError { line, message };
        if record.iter().all(<[u8]>::is_empty) {
            continue;
        }
        if record.len() < 3 {
            return Err(fail(format!(
                "expected at least 3 columns (token,user,uid[,\"group1,group2\"]), found {}",
                record.len()
            )));
        }
        let column = |i: usize, name: &str| {
            std::str::from_utf8(&record[i])
                .map(String::from)
                .map_err(|_| fail(format!("the {name} column is not valid UTF-8")))
        };
        let token = column(0, "token")?;
        let username = column(1, "user")?;
        let uid = column(2, "uid")?;
        let groups = match record.len() {
            3 => Vec::new(),
            _ => column(3, "groups")?
                .split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(String::from)
                .collect(),
        };
        if token.is_empty() {
            return Err(fail("the token is empty".into()));
        }
        if username.is_empty() {
            return Err(fail("the user name is empty".into()));
        }
        if let Some(first) = first_seen.get(&token) {
            return Err(fail(format!(
                "duplicate token (first given on line {first})"
            )));
        }
        first_seen.insert(token.clone(), line);
        tokens.push(StaticToken {
            token,
            user: UserInfo {
                username,
                uid,
                groups,
            },
        });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, uid: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.into(),
            uid: uid.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn reads_quoted_groups_and_an_optional_groups_column() {
        let text = "\u{feff}tok-a,alice,1,\"devs,ops\"\n\
                    \n\
                    tok-b, bob , 2\n\
                    tok-c,carol,3,\"\"\n\
                    tok-d,dave,4,single,ignored-extra\n";
        let tokens = parse_token_file(text.as_bytes()).unwrap();
        let got: Vec<(&str, &UserInfo)> =
            tokens.iter().map(|t| (t.token.as_str(), &t.user)).collect();
        assert_eq!(
            got,
            [
                ("tok-a", &user("alice", "1", &["devs", "ops"])),
                ("tok-b", &user("bob", "2", &[])),
                ("tok-c", &user("carol", "3", &[])),
                ("tok-d", &user("dave", "4", &["single"])),
            ]
        );
        assert!(parse_token_file(b"").unwrap().is_empty());
        assert!(!format!("{:?}", tokens[0]).contains("tok-a"));
    }

    #[test]
    fn bad_lines_name_the_line_but_not_the_token() {
        let cases: [(&[u8], u64, &str); 6] = [
            (b"ok-1,a,1\nsecret-2,b\n", 2, "at least 3 columns"),
            (b"ok-1,a,1\n\nsecret-2\n", 3, "found 1"),
            (b"\r\n\r\nok-1,a,1\r\n\n\nsecret-2,x\r\n", 6, "found 2"),
            (b",a,1\n", 1, "token is empty"),
            (b"ok-1,a,1\nsecret-2,,2\n", 2, "user name is empty"),
            (
                b"secret-2,a,1\nok-1,b,2\nsecret-2,c,3\n",
                3,
                "first given on line 1",
            ),
        ];
        for (text, line, wanted) in cases {
            let err = parse_token_file(text).unwrap_err();
            let message = err.to_string();
            assert_eq!(err.line, line, "{message}");
            assert!(message.starts_with(&format!("line {line}: ")), "{message}");
            assert!(message.contains(wanted), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
        let err = parse_token_file(b"ok-1,a,1\nsecret-\xff,b,2\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("token column is not valid UTF-8"));
    }

    #[test]
    fn authenticated_users_get_the_implied_groups() {
        assert_eq!(
            user("alice", "1", &["devs"]).authenticated().groups,
            ["devs", AUTHENTICATED]
        );
        assert_eq!(
            user("alice", "1", &[AUTHENTICATED]).authenticated().groups,
            [AUTHENTICATED]
        );
        assert_eq!(
            user("system:serviceaccount:kube-system:lb", "2", &[])
                .authenticated()
                .groups,
            [
                SERVICE_ACCOUNTS,
                "system:serviceaccounts:kube-system",
                AUTHENTICATED
            ]
        );
        // Not a ServiceAccount name: no ServiceAccount groups.
        assert_eq!(
            user("system:serviceaccount:only-ns", "3", &[])
                .authenticated()
                .groups,
            [AUTHENTICATED]
        );
    }
}
