//! systemd unit files as Gardener reads and writes them (go-systemd v22 `unit.Deserialize` and
//! `unit.Serialize`): a list of (section, name, value) options. A value keeps its continuation
//! lines (`\` + newline) verbatim; writing groups the options by section, in the order the
//! sections first appear, with a blank line between sections.

/// systemd's line limit, which go-systemd enforces while reading.
const LINE_MAX: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOption {
    pub section: String,
    pub name: String,
    pub value: String,
}

impl UnitOption {
    #[cfg(test)]
    pub fn new(section: &str, name: &str, value: &str) -> Self {
        Self {
            section: section.into(),
            name: name.into(),
            value: value.into(),
        }
    }
}

fn is_comment(c: char) -> bool {
    c == '#' || c == ';'
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// go-systemd refuses content whose next `LINE_MAX` bytes hold no line break.
    fn check_line_length(&self) -> Result<(), String> {
        let rest = &self.input.as_bytes()[self.pos..];
        if rest.len() >= LINE_MAX && !rest[..LINE_MAX].iter().any(|b| matches!(b, b'\r' | b'\n')) {
            return Err(format!("line too long (max {LINE_MAX} bytes)"));
        }
        Ok(())
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.input[self.pos..].chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// The rest of the line without its `\n` (a `\r` before it stays, as in go-systemd; a
    /// final `\r` at the end of input goes), and whether the input ended.
    fn rest_of_line(&mut self) -> (&'a str, bool) {
        let rest = &self.input[self.pos..];
        match rest.find('\n') {
            Some(i) => {
                self.pos += i + 1;
                (&rest[..i], false)
            }
            None => {
                self.pos = self.input.len();
                (rest.strip_suffix('\r').unwrap_or(rest), true)
            }
        }
    }

    /// Skips a comment line and its continuation lines.
    fn skip_comment(&mut self) {
        loop {
            let (line, _) = self.rest_of_line();
            let line = line.strip_suffix(' ').unwrap_or(line);
            if !line.ends_with('\\') {
                return;
            }
        }
    }

    /// After a `[`: the section name up to `]`, then nothing but blanks on the line.
    fn section_name(&mut self) -> Result<String, String> {
        let rest = &self.input[self.pos..];
        let end = rest.find(']').ok_or("unable to find end of section")?;
        let name = rest[..end].to_string();
        self.pos += end + 1;
        self.check_line_length()?;
        let (garbage, _) = self.rest_of_line();
        if !garbage.trim().is_empty() {
            return Err(format!(
                "found garbage after section name {name}: {:?}",
                garbage.trim()
            ));
        }
        Ok(name)
    }

    fn option_name(&mut self) -> Result<String, String> {
        let mut name = String::new();
        loop {
            match self.next_char() {
                None => return Err("unexpected end of content in an option name".into()),
                Some('\n' | '\r') => {
                    return Err("unexpected newline encountered while parsing option name".into());
                }
                Some('=') => return Ok(name.trim().to_string()),
                Some(c) => name.push(c),
            }
        }
    }

    /// The value after `=`, joined with its continuation lines.
    fn option_value(&mut self) -> Result<String, String> {
        let mut partial = String::new();
        loop {
            self.check_line_length()?;
            let (line, eof) = self.rest_of_line();
            if line.trim().is_empty() {
                break;
            }
            partial.push_str(line);
            if !line.ends_with('\\') {
                break;
            }
            if !eof {
                partial.push('\n');
            }
        }
        // A continuation followed by a blank line keeps its newline.
        Ok(if partial.ends_with('\n') {
            format!("{}\n", partial.trim())
        } else {
            partial.trim().to_string()
        })
    }
}

pub fn deserialize(content: &str) -> Result<Vec<UnitOption>, String> {
    let mut lexer = Lexer {
        input: content,
        pos: 0,
    };
    let mut options = Vec::new();
    // Before the first section everything but comments is skipped.
    let mut section: Option<String> = None;
    loop {
        lexer.check_line_length()?;
        let Some(c) = lexer.next_char() else {
            return Ok(options);
        };
        match (c, &section) {
            ('[', _) => section = Some(lexer.section_name()?),
            (c, _) if is_comment(c) => lexer.skip_comment(),
            (_, None) => {}
            (c, Some(_)) if c.is_whitespace() => {}
            (c, Some(current)) => {
                lexer.pos -= c.len_utf8();
                let current = current.clone();
                lexer.check_line_length()?;
                let name = lexer.option_name()?;
                let value = lexer.option_value()?;
                options.push(UnitOption {
                    section: current,
                    name,
                    value,
                });
            }
        }
    }
}

pub fn serialize(options: &[UnitOption]) -> String {
    let mut sections: Vec<(&str, Vec<&UnitOption>)> = Vec::new();
    for option in options {
        match sections
            .iter_mut()
            .find(|(name, _)| *name == option.section)
        {
            Some((_, list)) => list.push(option),
            None => sections.push((&option.section, vec![option])),
        }
    }
    let mut out = String::new();
    for (i, (name, list)) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("[{name}]\n"));
        for option in list {
            out.push_str(&format!("{}={}\n", option.name, option.value));
        }
    }
    out
}

/// Splits a command line on runs of blanks and backslashes, as Gardener's
/// `DeserializeCommandLine` (regexp `[\\\s]+`) does: leading or trailing runs give empty items.
pub fn split_command_line(value: &str) -> Vec<String> {
    let separator = |c: char| matches!(c, '\\' | ' ' | '\t' | '\n' | '\r' | '\x0c');
    let mut items = Vec::new();
    let mut current = String::new();
    let mut in_separator = false;
    for c in value.chars() {
        if separator(c) {
            if !in_separator {
                items.push(std::mem::take(&mut current));
                in_separator = true;
            }
        } else {
            in_separator = false;
            current.push(c);
        }
    }
    items.push(current);
    items
}

/// Joins a command line as Gardener's `SerializeCommandLine(command, 1, " \\\n    ")`: the
/// binary and the first argument on one line, each further argument on its own.
pub fn join_command_line(items: &[String]) -> String {
    match items {
        [] | [_] => items.join(" "),
        [first, rest @ ..] => format!("{first} {}", rest.join(" \\\n    ")),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// go-systemd's and Gardener's unit serializer test pair
    /// (`operatingsystemconfig/utils/unitserializer_test.go`).
    const CONTENT: &str = "[Unit]
Description=kubelet daemon
Documentation=https://kubernetes.io/docs/admin/kubelet
After=docker.service
Wants=docker.socket rpc-statd.service

[Install]
WantedBy=multi-user.target

[Service]
Restart=always
RestartSec=5
EnvironmentFile=/etc/environment
ExecStartPre=/bin/docker run --rm -v /opt/bin:/opt/bin:rw registry.k8s.io/hyperkube:v1.18.0 cp /hyperkube /opt/bin/
ExecStart=/opt/bin/hyperkube kubelet \\
    --cloud-provider=aws
";

    fn options() -> Vec<UnitOption> {
        vec![
            UnitOption::new("Unit", "Description", "kubelet daemon"),
            UnitOption::new(
                "Unit",
                "Documentation",
                "https://kubernetes.io/docs/admin/kubelet",
            ),
            UnitOption::new("Unit", "After", "docker.service"),
            UnitOption::new("Unit", "Wants", "docker.socket rpc-statd.service"),
            UnitOption::new("Install", "WantedBy", "multi-user.target"),
            UnitOption::new("Service", "Restart", "always"),
            UnitOption::new("Service", "RestartSec", "5"),
            UnitOption::new("Service", "EnvironmentFile", "/etc/environment"),
            UnitOption::new(
                "Service",
                "ExecStartPre",
                "/bin/docker run --rm -v /opt/bin:/opt/bin:rw registry.k8s.io/hyperkube:v1.18.0 cp /hyperkube /opt/bin/",
            ),
            UnitOption::new(
                "Service",
                "ExecStart",
                "/opt/bin/hyperkube kubelet \\\n    --cloud-provider=aws",
            ),
        ]
    }

    #[test]
    fn upstreams_unit_round_trips() {
        assert_eq!(deserialize(CONTENT).unwrap(), options());
        assert_eq!(serialize(&options()), CONTENT);
    }

    #[test]
    fn comments_blanks_and_interleaved_sections_are_handled() {
        let content = "# head\n[A]\n; note \\\n  still note\n  X = 1 \n\n[B]\nY=\n[A]\nZ=2";
        let options = deserialize(content).unwrap();
        assert_eq!(
            options,
            vec![
                UnitOption::new("A", "X", "1"),
                UnitOption::new("B", "Y", ""),
                UnitOption::new("A", "Z", "2"),
            ]
        );
        assert_eq!(serialize(&options), "[A]\nX=1\nZ=2\n\n[B]\nY=\n");
        assert_eq!(serialize(&[]), "");
    }

    #[test]
    fn a_continuation_before_a_blank_line_keeps_its_newline() {
        let options = deserialize("[S]\nA=x \\\n\nB=y").unwrap();
        assert_eq!(options[0].value, "x \\\n");
        assert_eq!(options[1].value, "y");
    }

    #[test]
    fn malformed_units_are_errors() {
        for (content, want) in [
            ("[Unit", "unable to find end of section"),
            ("[Unit] x\n", "found garbage after section name Unit: \"x\""),
            ("[Unit]\nName\n", "unexpected newline"),
            ("[Unit]\nName", "unexpected end"),
        ] {
            let e = deserialize(content).unwrap_err();
            assert!(e.contains(want), "{content:?}: {e}");
        }
        let long = format!("[S]\nA={}\n", "x".repeat(LINE_MAX));
        assert!(deserialize(&long).unwrap_err().contains("line too long"));
    }

    #[test]
    fn command_lines_split_on_blanks_and_backslashes_and_join_one_flag_a_line() {
        let items = split_command_line("/opt/bin/kubelet \\\n    --a=1 \\\n    --b=2 $EXTRA");
        assert_eq!(items, ["/opt/bin/kubelet", "--a=1", "--b=2", "$EXTRA"]);
        assert_eq!(
            join_command_line(&items),
            "/opt/bin/kubelet --a=1 \\\n    --b=2 \\\n    $EXTRA"
        );
        assert_eq!(split_command_line(" a "), ["", "a", ""]);
        assert_eq!(split_command_line(""), [""]);
        assert_eq!(join_command_line(&["x".to_string()]), "x");
    }

    proptest! {
        /// Written options read back as written, grouped by section in first-seen order.
        #[test]
        fn units_round_trip(
            options in prop::collection::vec(
                ("(Unit|Service|Install)", "[A-Z][A-Za-z]{0,8}", "[a-z0-9/=-]([a-z0-9 /=-]{0,20}[a-z0-9/=-])?"),
                0..12,
            )
        ) {
            let options: Vec<UnitOption> = options
                .into_iter()
                .map(|(section, name, value)| UnitOption { section, name, value })
                .collect();
            let mut grouped: Vec<UnitOption> = Vec::new();
            for option in &options {
                let at = grouped
                    .iter()
                    .rposition(|o| o.section == option.section)
                    .map_or(grouped.len(), |i| i + 1);
                grouped.insert(at, option.clone());
            }
            prop_assert_eq!(deserialize(&serialize(&options)).unwrap(), grouped);
        }

        /// A joined command line splits back into its items.
        #[test]
        fn command_lines_round_trip(items in prop::collection::vec("[a-z0-9=/$-]{1,12}", 1..10)) {
            prop_assert_eq!(split_command_line(&join_command_line(&items)), items);
        }
    }
}
