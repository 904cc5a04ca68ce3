//! The dashboard's data: the entries of the last listing with their CPU history, what is
//! selected, the followed output of the selected entry, the mode (help, a prompt, a question),
//! and where each pane is on the screen. Plain data with small pure helpers; changed only by
//! [`super::update::update`], drawn by [`super::view`].

use crate::proto::EntryInfo;
use std::collections::VecDeque;

/// CPU samples kept per entry (one every ~2 s: about a minute and a half).
pub const HISTORY: usize = 48;
/// Lines of output kept for the selected entry.
pub const OUTPUT_LINES: usize = 2000;
/// A long line is cut here (the rest is dropped).
const LINE_MAX: usize = 1000;

/// A rectangle of the screen: column, row, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Area {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

impl Area {
    pub fn contains(&self, x: u16, y: u16) -> bool {
        x >= self.x && x < self.x + self.w && y >= self.y && y < self.y + self.h
    }
}

/// Where the panes are for a screen size: the list on top, details and output side by side
/// below (stacked when the screen is narrow), and one line of keys at the bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub list: Area,
    pub details: Area,
    pub output: Area,
    pub keys: Area,
}

impl Layout {
    pub fn of(cols: u16, rows: u16) -> Layout {
        let body = rows.saturating_sub(1);
        // The list gets 40% (at least 5 rows with its border and header); the rest below.
        let list_h = (body * 2 / 5).max(5).min(body);
        let below = body - list_h;
        let (details, output) = if cols >= 60 {
            let dw = cols * 2 / 5;
            (
                Area {
                    x: 0,
                    y: list_h,
                    w: dw,
                    h: below,
                },
                Area {
                    x: dw,
                    y: list_h,
                    w: cols - dw,
                    h: below,
                },
            )
        } else {
            let dh = below * 2 / 5;
            (
                Area {
                    x: 0,
                    y: list_h,
                    w: cols,
                    h: dh,
                },
                Area {
                    x: 0,
                    y: list_h + dh,
                    w: cols,
                    h: below - dh,
                },
            )
        };
        Layout {
            list: Area {
                x: 0,
                y: 0,
                w: cols,
                h: list_h,
            },
            details,
            output,
            keys: Area {
                x: 0,
                y: body,
                w: cols,
                h: rows.min(1),
            },
        }
    }

    /// Rows of the list that show entries (inside the border, under the header).
    pub fn list_rows(&self) -> usize {
        usize::from(self.list.h.saturating_sub(3))
    }

    /// Rows of the output pane that show lines (inside the border).
    pub fn output_rows(&self) -> usize {
        usize::from(self.output.h.saturating_sub(2))
    }
}

/// What the keyboard is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// The `?` overlay.
    Help,
    /// `d`: remove this entry? (id, label)
    ConfirmRemove(u64, String),
    /// A line being typed at the bottom.
    Prompt(Prompt, String),
}

/// What a typed line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// `/`: search the output.
    Search,
    /// `f`: filter the list.
    Filter,
    /// `i`: a line for the selected entry's input.
    Send,
}

/// Which pane the arrows move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Output,
}

/// One row of the list: an entry, or in the tree view a group's heading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Group(String),
    Entry(u64),
}

/// The selected entry's output, as lines.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The entry followed (None: nothing selected yet).
    pub entry: Option<u64>,
    pub lines: VecDeque<String>,
    /// The unfinished last line.
    pub partial: String,
    /// Lines scrolled back from the end (0: following).
    pub back: usize,
    /// The stream starts in the middle of a line: dropped up to its end.
    pub mid_line: bool,
}

impl Output {
    /// Adds output bytes: escape sequences and control characters are dropped, lines split.
    pub fn push(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let mut esc = false;
        let mut csi = false;
        for c in text.chars() {
            if esc {
                // ESC [ ... final byte, or ESC and one character.
                if csi {
                    if ('@'..='~').contains(&c) {
                        esc = false;
                        csi = false;
                    }
                } else if c == '[' {
                    csi = true;
                } else {
                    esc = false;
                }
                continue;
            }
            if self.mid_line {
                self.mid_line = c != '\n';
                continue;
            }
            match c {
                '\x1b' => esc = true,
                '\n' => self.end_line(),
                '\r' => {}
                '\t' => self.partial.push_str("    "),
                c if c.is_control() => {}
                c if self.partial.len() < LINE_MAX => self.partial.push(c),
                _ => {}
            }
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.partial);
        self.lines.push_back(line);
        if self.lines.len() > OUTPUT_LINES {
            self.lines.pop_front();
        }
        // A reader scrolled back keeps looking at the same lines.
        if self.back > 0 {
            self.back = (self.back + 1).min(self.lines.len());
        }
    }

    /// Every line, the unfinished one last.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        let partial = (!self.partial.is_empty()).then_some(self.partial.as_str());
        self.lines.iter().map(String::as_str).chain(partial)
    }

    pub fn len(&self) -> usize {
        self.lines.len() + usize::from(!self.partial.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The whole dashboard.
#[derive(Debug, Clone)]
pub struct Model {
    pub cols: u16,
    pub rows: u16,
    /// Colours allowed (NO_COLOR unset, a terminal that has them).
    pub color: bool,
    /// Entries of the last listing, by id.
    pub entries: Vec<EntryInfo>,
    /// CPU history per entry id (by id), in tenths of a percent, oldest first.
    pub history: Vec<(u64, VecDeque<u64>)>,
    /// When the last CPU sample was taken (ms since the epoch).
    pub sampled_ms: u64,
    /// The selected entry.
    pub selected: Option<u64>,
    /// The first list row shown.
    pub top: usize,
    pub mode: Mode,
    pub focus: Focus,
    /// Text, `tag:T`, `group:G` or `state:S` (empty: everything).
    pub filter: String,
    /// Entries grouped under their groups.
    pub tree: bool,
    pub output: Output,
    /// The output search and the line of the current match.
    pub search: String,
    pub found: Option<usize>,
    /// The selected entry's `status` (recent events, environment), when fetched.
    pub details: Option<EntryInfo>,
    /// A message for the bottom line (an action's result or an error).
    pub message: Option<String>,
    /// A listing is on its way; `stale`: something changed since it was asked for.
    pub listing: bool,
    pub stale: bool,
    pub quit: bool,
}

impl Model {
    pub fn new(cols: u16, rows: u16, color: bool) -> Model {
        Model {
            cols,
            rows,
            color,
            entries: Vec::new(),
            history: Vec::new(),
            sampled_ms: 0,
            selected: None,
            top: 0,
            mode: Mode::Normal,
            focus: Focus::List,
            filter: String::new(),
            tree: false,
            output: Output::default(),
            search: String::new(),
            found: None,
            details: None,
            message: None,
            listing: false,
            stale: false,
            quit: false,
        }
    }

    pub fn layout(&self) -> Layout {
        Layout::of(self.cols, self.rows)
    }

    /// The CPU history of entry `id`.
    pub fn history_of(&self, id: u64) -> Option<&VecDeque<u64>> {
        let at = self.history.binary_search_by_key(&id, |(i, _)| *i).ok()?;
        Some(&self.history[at].1)
    }

    pub fn entry(&self, id: u64) -> Option<&EntryInfo> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn selected_entry(&self) -> Option<&EntryInfo> {
        self.selected.and_then(|id| self.entry(id))
    }

    /// Whether entry `e` passes the filter.
    pub fn passes(&self, e: &EntryInfo) -> bool {
        let f = self.filter.trim();
        if f.is_empty() {
            return true;
        }
        f.split_whitespace().all(|word| match word.split_once(':') {
            Some(("tag", t)) => e.tags.iter().any(|x| x == t),
            Some(("group", g)) => e.groups.iter().any(|x| x == g),
            Some(("state", s)) => e.state == s,
            _ => {
                let w = word.to_ascii_lowercase();
                e.name
                    .as_deref()
                    .unwrap_or("")
                    .to_ascii_lowercase()
                    .contains(&w)
                    || e.command.to_ascii_lowercase().contains(&w)
                    || e.id.to_string() == w
            }
        })
    }

    /// The rows of the list, in order: the filtered entries by id, or in the tree view under
    /// their groups (an entry in several groups shows under each; none: "(no group)").
    pub fn rows(&self) -> Vec<Row> {
        let shown = self.entries.iter().filter(|e| self.passes(e));
        if !self.tree {
            return shown.map(|e| Row::Entry(e.id)).collect();
        }
        let mut groups: Vec<String> = Vec::new();
        let mut ungrouped = false;
        for e in shown.clone() {
            ungrouped |= e.groups.is_empty();
            for g in &e.groups {
                if !groups.contains(g) {
                    groups.push(g.clone());
                }
            }
        }
        groups.sort();
        let mut rows = Vec::new();
        for g in &groups {
            rows.push(Row::Group(g.clone()));
            for e in shown.clone().filter(|e| e.groups.contains(g)) {
                rows.push(Row::Entry(e.id));
            }
        }
        if ungrouped {
            rows.push(Row::Group("(no group)".into()));
            for e in shown.filter(|e| e.groups.is_empty()) {
                rows.push(Row::Entry(e.id));
            }
        }
        rows
    }

    /// The lines of the output matching the search, by index.
    pub fn matches(&self) -> Vec<usize> {
        if self.search.is_empty() {
            return Vec::new();
        }
        let smart = self.search.chars().any(|c| c.is_ascii_uppercase());
        let needle = if smart {
            self.search.clone()
        } else {
            self.search.to_ascii_lowercase()
        };
        self.output
            .all()
            .enumerate()
            .filter(|(_, l)| {
                if smart {
                    l.contains(&needle)
                } else {
                    l.to_ascii_lowercase().contains(&needle)
                }
            })
            .map(|(i, _)| i)
            .collect()
    }
}
