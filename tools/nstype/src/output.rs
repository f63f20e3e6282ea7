//! The three ways nstype prints its rows: a table, JSON, and shell key=value lines.

use common::Error;
use common::error::quoted;

/// What nstype learnt about one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The file as given; `None` for a namespace reached through a relation.
    pub path: Option<String>,
    pub kind: &'static str,
    pub id: u64,
    pub userns: Option<u64>,
    pub parent: Option<u64>,
    pub owner: Option<u32>,
    pub relation: &'static str,
    /// `--list`: how many processes are in it, the lowest PID, its user and command.
    pub listed: Option<Listed>,
    /// `--tree`: how deep below the top the row is.
    pub depth: usize,
}

/// What `--list` adds to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub nprocs: u64,
    pub pid: Option<u64>,
    pub user: Option<String>,
    pub command: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Path,
    Type,
    Ns,
    Userns,
    Parent,
    Owner,
    Relation,
    Nprocs,
    Pid,
    User,
    Command,
}

const ALL: [Column; 11] = [
    Column::Path,
    Column::Type,
    Column::Ns,
    Column::Userns,
    Column::Parent,
    Column::Owner,
    Column::Relation,
    Column::Nprocs,
    Column::Pid,
    Column::User,
    Column::Command,
];

/// A cell: text, a number, or nothing to show.
enum Cell<'a> {
    Text(&'a str),
    Number(u64),
    Absent,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Type => "type",
            Self::Ns => "ns",
            Self::Userns => "userns",
            Self::Parent => "parent",
            Self::Owner => "owner",
            Self::Relation => "relation",
            Self::Nprocs => "nprocs",
            Self::Pid => "pid",
            Self::User => "user",
            Self::Command => "command",
        }
    }

    /// `--list`'s columns, lsns's: NS TYPE NPROCS PID USER COMMAND.
    pub fn default_list() -> Vec<Self> {
        vec![Self::Ns, Self::Type, Self::Nprocs, Self::Pid, Self::User, Self::Command]
    }

    pub fn default_for(chain: bool) -> Vec<Self> {
        let mut columns = vec![Self::Path, Self::Type, Self::Ns, Self::Userns, Self::Parent, Self::Owner];
        if chain {
            columns.insert(0, Self::Relation);
        }
        columns
    }

    /// `-o` takes names separated by commas, in any case.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, Error> {
        text.split(',')
            .map(|name| {
                ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(name)).ok_or_else(|| {
                    let names: Vec<&str> = ALL.iter().map(|c| c.name()).collect();
                    Error::new("invalid column", quoted(name), format!("expected one of {}", names.join(", ")))
                })
            })
            .collect()
    }

    fn cell(self, info: &Info) -> Cell<'_> {
        let opt = |v: Option<u64>| v.map_or(Cell::Absent, Cell::Number);
        match self {
            Self::Path => info.path.as_deref().map_or(Cell::Absent, Cell::Text),
            Self::Type => Cell::Text(info.kind),
            Self::Ns => Cell::Number(info.id),
            Self::Userns => opt(info.userns),
            Self::Parent => opt(info.parent),
            Self::Owner => opt(info.owner.map(u64::from)),
            Self::Relation => Cell::Text(info.relation),
            Self::Nprocs => info.listed.as_ref().map_or(Cell::Absent, |l| Cell::Number(l.nprocs)),
            Self::Pid => opt(info.listed.as_ref().and_then(|l| l.pid)),
            Self::User => info.listed.as_ref().and_then(|l| l.user.as_deref()).map_or(Cell::Absent, Cell::Text),
            Self::Command => info.listed.as_ref().and_then(|l| l.command.as_deref()).map_or(Cell::Absent, Cell::Text),
        }
    }
}

pub fn render(rows: &[Info], columns: &[Column], format: Format, headings: bool) -> String {
    match format {
        Format::Table => table(rows, columns, headings),
        Format::Json => json(rows, columns),
        Format::Raw => raw(rows, columns),
    }
}

fn plain(cell: &Cell<'_>) -> String {
    match cell {
        Cell::Text(t) => (*t).to_owned(),
        Cell::Number(n) => n.to_string(),
        Cell::Absent => "-".to_owned(),
    }
}

fn table(rows: &[Info], columns: &[Column], headings: bool) -> String {
    let mut lines: Vec<Vec<String>> = Vec::new();
    if headings && !rows.is_empty() {
        lines.push(columns.iter().map(|c| c.name().to_ascii_uppercase()).collect());
    }
    lines.extend(rows.iter().map(|r| {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let text = common::error::printable(&plain(&c.cell(r)));
                // A tree's depth shows in the first column.
                if i == 0 && r.depth > 0 { format!("{}└─{text}", "  ".repeat(r.depth - 1)) } else { text }
            })
            .collect()
    }));
    let widths: Vec<usize> =
        (0..columns.len()).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for line in lines {
        let last = line.len().saturating_sub(1);
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count() + 1));
            }
        }
        out.push('\n');
    }
    out
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json(rows: &[Info], columns: &[Column]) -> String {
    let objects: Vec<String> = rows
        .iter()
        .map(|r| {
            let fields: Vec<String> = columns
                .iter()
                .map(|c| {
                    let value = match c.cell(r) {
                        Cell::Text(t) => json_string(t),
                        Cell::Number(n) => n.to_string(),
                        Cell::Absent => "null".to_owned(),
                    };
                    format!("{}: {value}", json_string(c.name()))
                })
                .collect();
            format!("    {{{}}}", fields.join(", "))
        })
        .collect();
    if objects.is_empty() {
        return "{\"namespaces\": []}\n".to_owned();
    }
    format!("{{\"namespaces\": [\n{}\n]}}\n", objects.join(",\n"))
}

fn raw(rows: &[Info], columns: &[Column]) -> String {
    let mut out = String::new();
    for r in rows {
        let pairs: Vec<String> =
            columns.iter().map(|c| format!("{}={}", c.name(), common::trace::shell_word(&plain(&c.cell(r))))).collect();
        out.push_str(&pairs.join(" "));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &str) -> Info {
        Info {
            path: Some(path.to_owned()),
            kind: "net",
            id: 4026531840,
            userns: Some(4026531837),
            parent: None,
            owner: None,
            relation: "self",
            listed: None,
            depth: 0,
        }
    }

    #[test]
    fn table_aligns_and_marks_absent_values() {
        let out = render(&[row("/proc/1/ns/net"), row("/x")], &Column::default_for(false), Format::Table, true);
        assert_eq!(
            out,
            "PATH           TYPE NS         USERNS     PARENT OWNER\n\
             /proc/1/ns/net net  4026531840 4026531837 -      -\n\
             /x             net  4026531840 4026531837 -      -\n"
        );
        let bare = render(&[row("/x")], &[Column::Ns], Format::Table, false);
        assert_eq!(bare, "4026531840\n");
    }

    #[test]
    fn json_escapes_and_uses_null() {
        let out = render(&[row("/a\"b\\c\n")], &[Column::Path, Column::Ns, Column::Parent], Format::Json, true);
        assert_eq!(
            out,
            "{\"namespaces\": [\n    {\"path\": \"/a\\\"b\\\\c\\n\", \"ns\": 4026531840, \"parent\": null}\n]}\n"
        );
        assert_eq!(render(&[], &[Column::Ns], Format::Json, true), "{\"namespaces\": []}\n");
    }

    #[test]
    fn raw_lines_are_safe_to_eval() {
        let out = render(&[row("/it's here")], &[Column::Path, Column::Type, Column::Owner], Format::Raw, true);
        assert_eq!(out, "path='/it'\\''s here' type=net owner=-\n");
    }

    #[test]
    fn a_listed_row_escapes_what_a_terminal_would_act_on_and_shows_its_depth() {
        let mut r = row("/x");
        r.listed = Some(Listed {
            nprocs: 2,
            pid: Some(7),
            user: Some("root".into()),
            command: Some("evil \x1b]0;T\x07".into()),
        });
        r.depth = 2;
        let out = render(&[r], &Column::default_list(), Format::Table, false);
        assert_eq!(out, "  └─4026531840 net 2 7 root evil \\x1b]0;T\\x07\n");
    }

    #[test]
    fn column_names_round_trip() {
        for c in ALL {
            assert_eq!(Column::parse_list(c.name()).unwrap(), [c]);
            assert_eq!(Column::parse_list(&c.name().to_uppercase()).unwrap(), [c]);
        }
    }
}
