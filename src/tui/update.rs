//! The dashboard's update function: `(model, event) -> commands`. Pure: no socket, terminal
//! or clock; what the daemon said, what was typed and the time arrive as events, and what is
//! to be done (ask for a listing, stop an entry, follow another entry's output, attach, quit)
//! leaves as commands for the executor (`app.rs`). Table-tested below.

use super::input::{Input, Key, Mouse};
use super::model::{Focus, Mode, Model, Prompt, Row, HISTORY};
use crate::proto::{EntryInfo, LiveEvent};

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Event {
    Input(Input),
    /// The terminal's new size (columns, rows).
    Resize(u16, u16),
    /// The 2-second tick, at this time (ms since the epoch).
    Tick(u64),
    /// A listing arrived, taken at this time.
    Listed(Vec<EntryInfo>, u64),
    /// A lifecycle event of the subscription.
    Lifecycle(LiveEvent),
    /// Output bytes of an entry being followed.
    Output(u64, Vec<u8>),
    /// The stream of an entry's output begins in the middle of its output (a little before
    /// its end), likely in the middle of a line.
    MidStream(u64),
    /// The selected entry's `status`.
    Details(Box<EntryInfo>),
    /// An action's outcome, as a message for the bottom line.
    Done(String),
    /// An attach session ended (an error message if it failed).
    Returned(Option<String>),
    /// A listing failed.
    ListFailed(String),
    /// The connection to the daemon broke (it is tried again every tick).
    Lost(String),
    /// Connected again: streams and requests start over.
    Connected,
}

/// Something for the executor to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Ask for the listing (with CPU and memory).
    List,
    /// Follow this entry's output (replacing the stream followed before) and fetch its status.
    Follow(u64),
    /// Fetch the status of an entry (its recent events changed).
    Details(u64),
    Start(u64),
    Stop(u64),
    Restart(u64),
    Remove(u64),
    /// A line (with its newline) for the entry's input.
    Send(u64, String),
    /// Leave the dashboard, attach to the entry, come back when it detaches.
    Attach(u64),
    /// Ctrl-Z: give the terminal back and stop until continued.
    Suspend,
    Quit,
}

/// Folds one event into the model; returns what is to be done.
pub fn update(m: &mut Model, ev: Event) -> Vec<Command> {
    let mut cmds = Vec::new();
    match ev {
        Event::Input(Input::Key(k)) => {
            if !matches!(m.mode, Mode::Prompt(..)) {
                m.message = None;
            }
            key(m, k, &mut cmds);
        }
        Event::Input(Input::Mouse(ms)) => mouse(m, ms, &mut cmds),
        Event::Resize(c, r) => {
            m.cols = c;
            m.rows = r;
            keep_visible(m);
        }
        Event::Tick(_) => list(m, &mut cmds),
        Event::Listed(entries, now) => listed(m, entries, now, &mut cmds),
        Event::Lifecycle(ev) => {
            // The listing tells the new state: ask for it (once at a time).
            m.stale = true;
            list(m, &mut cmds);
            if Some(ev.id) == m.selected {
                cmds.push(Command::Details(ev.id));
            }
        }
        Event::Output(id, bytes) => {
            if m.output.entry == Some(id) {
                m.output.push(&bytes);
            }
        }
        Event::MidStream(id) => {
            if m.output.entry == Some(id) && m.output.is_empty() {
                m.output.mid_line = true;
            }
        }
        Event::Details(e) => {
            if Some(e.id) == m.selected {
                m.details = Some(*e);
            }
        }
        Event::Done(msg) => {
            m.message = Some(msg);
            m.stale = true;
            list(m, &mut cmds);
        }
        Event::Returned(err) => {
            m.message = err;
            m.stale = true;
            list(m, &mut cmds);
        }
        Event::ListFailed(e) => {
            m.listing = false;
            m.message = Some(format!("cannot list: {e}"));
        }
        Event::Lost(e) => {
            m.listing = false;
            m.message = Some(format!("{e}; trying again every 2 s (q quits)"));
        }
        Event::Connected => {
            m.listing = false;
            m.message = Some("connected to the daemon again".into());
            list(m, &mut cmds);
            if let Some(id) = m.selected {
                m.output = Default::default();
                m.output.entry = Some(id);
                cmds.push(Command::Follow(id));
            }
        }
    }
    cmds
}

/// Asks for a listing unless one is on its way (then another follows it).
fn list(m: &mut Model, cmds: &mut Vec<Command>) {
    if m.listing {
        m.stale = true;
    } else {
        m.listing = true;
        m.stale = false;
        cmds.push(Command::List);
    }
}

fn listed(m: &mut Model, mut entries: Vec<EntryInfo>, now: u64, cmds: &mut Vec<Command>) {
    entries.sort_by_key(|e| e.id);
    // One CPU sample per tick, however many listings events bring.
    if now.saturating_sub(m.sampled_ms) >= 1900 {
        m.sampled_ms = now;
        // Only running entries are measured: an ended one keeps the history it had. Both
        // lists are by id: one pass, whatever the number of entries.
        let mut old = std::mem::take(&mut m.history).into_iter().peekable();
        for e in &entries {
            while old.next_if(|(i, _)| *i < e.id).is_some() {}
            let mut h = old
                .next_if(|(i, _)| *i == e.id)
                .map(|(_, h)| h)
                .unwrap_or_default();
            if let Some(cpu) = e.cpu_percent {
                h.push_back((cpu * 10.0).round() as u64);
                if h.len() > HISTORY {
                    h.pop_front();
                }
            }
            if !h.is_empty() {
                m.history.push((e.id, h));
            }
        }
    }
    m.entries = entries;
    m.listing = false;
    if m.stale {
        list(m, cmds);
    }
    // The selection stays on its entry; a removed one passes to its neighbour.
    let rows = m.rows();
    let still = m.selected.is_some_and(|id| rows.contains(&Row::Entry(id)));
    if !still {
        let old = m.selected.unwrap_or(0);
        let next = rows
            .iter()
            .filter_map(|r| match r {
                Row::Entry(id) => Some(*id),
                Row::Group(_) => None,
            })
            .min_by_key(|id| id.abs_diff(old));
        select(m, next, cmds);
    }
    keep_visible(m);
}

/// Selects an entry: its output is followed and its details fetched.
fn select(m: &mut Model, id: Option<u64>, cmds: &mut Vec<Command>) {
    if m.selected == id {
        return;
    }
    m.selected = id;
    m.details = None;
    m.output = Default::default();
    m.output.entry = id;
    m.found = None;
    if let Some(id) = id {
        cmds.push(Command::Follow(id));
    }
}

/// Moves the selection by `delta` entries (group headings are skipped).
fn move_by(m: &mut Model, delta: isize, cmds: &mut Vec<Command>) {
    let ids: Vec<u64> = m
        .rows()
        .into_iter()
        .filter_map(|r| match r {
            Row::Entry(id) => Some(id),
            Row::Group(_) => None,
        })
        .collect();
    if ids.is_empty() {
        return;
    }
    let at = m
        .selected
        .and_then(|s| ids.iter().position(|&i| i == s))
        .unwrap_or(0) as isize;
    let to = (at + delta).clamp(0, ids.len() as isize - 1) as usize;
    select(m, Some(ids[to]), cmds);
    keep_visible(m);
}

/// Scrolls the list so that the selected row is shown.
fn keep_visible(m: &mut Model) {
    let rows = m.rows();
    let n = m.layout().list_rows().max(1);
    let at = m
        .selected
        .and_then(|s| rows.iter().position(|r| *r == Row::Entry(s)))
        .unwrap_or(0);
    if at < m.top {
        m.top = at;
    } else if at >= m.top + n {
        m.top = at + 1 - n;
    }
    m.top = m.top.min(rows.len().saturating_sub(n));
}

/// Scrolls the output back (positive) or forward by `delta` lines.
fn scroll_output(m: &mut Model, delta: isize) {
    let max = m.output.len().saturating_sub(m.layout().output_rows()) as isize;
    m.output.back = (m.output.back as isize + delta).clamp(0, max.max(0)) as usize;
}

/// Shows match line `line` in the output pane.
fn show_line(m: &mut Model, line: usize) {
    let len = m.output.len();
    let rows = m.layout().output_rows().max(1);
    // The line shown in the middle of the pane when there is room.
    let back = (len - line).saturating_sub(rows / 2 + 1);
    m.output.back = back.min(len.saturating_sub(rows));
    m.found = Some(line);
}

fn key(m: &mut Model, k: Key, cmds: &mut Vec<Command>) {
    // Ctrl-C quits from anywhere; Ctrl-Z suspends.
    match k {
        Key::Ctrl('c') => {
            m.quit = true;
            cmds.push(Command::Quit);
            return;
        }
        Key::Ctrl('z') => {
            cmds.push(Command::Suspend);
            return;
        }
        _ => {}
    }
    match m.mode.clone() {
        Mode::Help => m.mode = Mode::Normal,
        Mode::ConfirmRemove(id, label) => {
            m.mode = Mode::Normal;
            if matches!(k, Key::Char('y') | Key::Char('Y')) {
                m.message = Some(format!("removing {label}"));
                cmds.push(Command::Remove(id));
            }
        }
        Mode::Prompt(p, mut text) => match k {
            Key::Enter => {
                m.mode = Mode::Normal;
                submit(m, p, text, cmds);
            }
            Key::Esc => m.mode = Mode::Normal,
            Key::Backspace => {
                text.pop();
                m.mode = Mode::Prompt(p, text);
            }
            Key::Char(c) => {
                text.push(c);
                m.mode = Mode::Prompt(p, text);
            }
            _ => {}
        },
        Mode::Normal => normal(m, k, cmds),
    }
}

fn submit(m: &mut Model, p: Prompt, text: String, cmds: &mut Vec<Command>) {
    match p {
        Prompt::Search => {
            m.search = text;
            m.found = None;
            match m.matches().last() {
                Some(&l) => show_line(m, l),
                None if m.search.is_empty() => {}
                None => m.message = Some(format!("not found: {}", m.search)),
            }
        }
        Prompt::Filter => {
            m.filter = text;
            m.top = 0;
            let rows = m.rows();
            if !m.selected.is_some_and(|id| rows.contains(&Row::Entry(id))) {
                let first = rows.iter().find_map(|r| match r {
                    Row::Entry(id) => Some(*id),
                    Row::Group(_) => None,
                });
                select(m, first, cmds);
            }
            keep_visible(m);
        }
        Prompt::Send => {
            if let Some(id) = m.selected {
                cmds.push(Command::Send(id, format!("{text}\n")));
            }
        }
    }
}

fn normal(m: &mut Model, k: Key, cmds: &mut Vec<Command>) {
    let page = m.layout().list_rows().max(1) as isize;
    let out_page = m.layout().output_rows().max(1) as isize;
    let sel = m.selected;
    match k {
        Key::Char('q') => {
            m.quit = true;
            cmds.push(Command::Quit);
        }
        Key::Char('?') => m.mode = Mode::Help,
        Key::Esc => m.focus = Focus::List,
        Key::Enter | Key::Tab => {
            m.focus = match m.focus {
                Focus::List => Focus::Output,
                Focus::Output => Focus::List,
            }
        }
        Key::Up | Key::Char('k') if m.focus == Focus::Output => scroll_output(m, 1),
        Key::Down | Key::Char('j') if m.focus == Focus::Output => scroll_output(m, -1),
        Key::PageUp if m.focus == Focus::Output => scroll_output(m, out_page),
        Key::PageDown if m.focus == Focus::Output => scroll_output(m, -out_page),
        Key::Home if m.focus == Focus::Output => scroll_output(m, isize::MAX / 2),
        Key::End if m.focus == Focus::Output => m.output.back = 0,
        Key::Up | Key::Char('k') => move_by(m, -1, cmds),
        Key::Down | Key::Char('j') => move_by(m, 1, cmds),
        Key::PageUp => move_by(m, -page, cmds),
        Key::PageDown => move_by(m, page, cmds),
        Key::Home | Key::Char('g') => move_by(m, isize::MIN / 2, cmds),
        Key::End | Key::Char('G') => move_by(m, isize::MAX / 2, cmds),
        Key::Char('/') => m.mode = Mode::Prompt(Prompt::Search, String::new()),
        Key::Char('f') => m.mode = Mode::Prompt(Prompt::Filter, m.filter.clone()),
        Key::Char('n') | Key::Char('N') => {
            let ms = m.matches();
            let cur = m.found;
            // n: the next match up (older), as in a pager reading backwards from the end;
            // N: the next one down.
            let next = if k == Key::Char('n') {
                ms.iter().rev().find(|&&l| cur.is_none_or(|c| l < c))
            } else {
                ms.iter().find(|&&l| cur.is_none_or(|c| l > c))
            };
            match next {
                Some(&l) => show_line(m, l),
                None if m.search.is_empty() => m.message = Some("no search (press /)".into()),
                None => m.message = Some(format!("no more matches for {}", m.search)),
            }
        }
        Key::Char('t') => {
            m.tree = !m.tree;
            keep_visible(m);
        }
        _ => {
            let Some(id) = sel else {
                return;
            };
            match k {
                Key::Char('s') => cmds.push(Command::Stop(id)),
                Key::Char('S') => cmds.push(Command::Start(id)),
                Key::Char('r') => cmds.push(Command::Restart(id)),
                Key::Char('a') => cmds.push(Command::Attach(id)),
                Key::Char('i') => m.mode = Mode::Prompt(Prompt::Send, String::new()),
                Key::Char('d') => {
                    let label = m
                        .entry(id)
                        .map(|e| crate::cli::render::label(e.id, &e.name))
                        .unwrap_or_else(|| format!("id {id}"));
                    m.mode = Mode::ConfirmRemove(id, label);
                }
                _ => {}
            }
        }
    }
}

fn mouse(m: &mut Model, ms: Mouse, cmds: &mut Vec<Command>) {
    let l = m.layout();
    match ms {
        Mouse::Click(x, y) if l.list.contains(x, y) => {
            m.focus = Focus::List;
            // Rows start under the border and the header.
            let Some(i) = usize::from(y).checked_sub(usize::from(l.list.y) + 2) else {
                return;
            };
            if i >= l.list_rows() {
                return;
            }
            if let Some(Row::Entry(id)) = m.rows().get(m.top + i) {
                select(m, Some(*id), cmds);
            }
        }
        Mouse::Click(x, y) if l.output.contains(x, y) => m.focus = Focus::Output,
        Mouse::ScrollUp(x, y) if l.output.contains(x, y) => scroll_output(m, 3),
        Mouse::ScrollDown(x, y) if l.output.contains(x, y) => scroll_output(m, -3),
        Mouse::ScrollUp(x, y) if l.list.contains(x, y) => move_by(m, -1, cmds),
        Mouse::ScrollDown(x, y) if l.list.contains(x, y) => move_by(m, 1, cmds),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::EventKind;

    fn entry(id: u64, name: &str, state: &str, groups: &[&str]) -> EntryInfo {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "tags": [], "groups": groups, "state": state,
            "pid": null, "run": 1, "restarts": 0, "command": format!("cmd-{name}"),
            "argv": [], "shell": false, "cwd": "/", "created_at_ms": 0,
            "started_at_ms": null, "ended_at_ms": null, "uptime_ms": null,
            "exit_code": null, "exit_signal": null, "cpu_percent": 12.5, "rss_bytes": 1024,
            "stop_signal": 15, "stop_timeout_ms": 5000, "originator": null,
            "adopted": false, "error": null
        }))
        .expect("an EntryInfo")
    }

    fn k(c: char) -> Event {
        Event::Input(Input::Key(Key::Char(c)))
    }

    fn key(k: Key) -> Event {
        Event::Input(Input::Key(k))
    }

    /// A model with three entries listed (the first one selected) at 80x24.
    fn listed3() -> Model {
        let mut m = Model::new(80, 24, true);
        m.listing = true;
        let es = vec![
            entry(1, "web", "running", &["front"]),
            entry(2, "db", "running", &[]),
            entry(3, "job", "exited", &["front"]),
        ];
        let cmds = update(&mut m, Event::Listed(es, 10_000));
        assert_eq!(cmds, [Command::Follow(1)]);
        m
    }

    #[test]
    fn the_first_listing_selects_the_first_entry_and_follows_it() {
        let m = listed3();
        assert_eq!(m.selected, Some(1));
        assert_eq!(
            m.history_of(1).unwrap().iter().copied().collect::<Vec<_>>(),
            [125]
        );
        assert!(!m.listing);
    }

    #[test]
    fn moving_follows_the_new_entry_and_stops_at_the_ends() {
        let mut m = listed3();
        assert_eq!(update(&mut m, k('j')), [Command::Follow(2)]);
        assert_eq!(update(&mut m, key(Key::Down)), [Command::Follow(3)]);
        assert_eq!(update(&mut m, k('j')), []);
        assert_eq!(update(&mut m, key(Key::Home)), [Command::Follow(1)]);
        assert_eq!(update(&mut m, k('k')), []);
        assert_eq!(m.selected, Some(1));
    }

    #[test]
    fn actions_act_on_the_selected_entry() {
        let mut m = listed3();
        update(&mut m, k('j'));
        assert_eq!(update(&mut m, k('s')), [Command::Stop(2)]);
        assert_eq!(update(&mut m, k('S')), [Command::Start(2)]);
        assert_eq!(update(&mut m, k('r')), [Command::Restart(2)]);
        assert_eq!(update(&mut m, k('a')), [Command::Attach(2)]);
    }

    #[test]
    fn remove_asks_first() {
        let mut m = listed3();
        assert_eq!(update(&mut m, k('d')), []);
        assert_eq!(m.mode, Mode::ConfirmRemove(1, "web (id 1)".into()));
        assert_eq!(update(&mut m, k('n')), []);
        assert_eq!(m.mode, Mode::Normal);
        update(&mut m, k('d'));
        assert_eq!(update(&mut m, k('y')), [Command::Remove(1)]);
    }

    #[test]
    fn quitting_and_suspending() {
        let mut m = listed3();
        update(&mut m, k('/'));
        assert_eq!(update(&mut m, key(Key::Ctrl('z'))), [Command::Suspend]);
        assert_eq!(update(&mut m, key(Key::Ctrl('c'))), [Command::Quit]);
        let mut m = listed3();
        assert_eq!(update(&mut m, k('q')), [Command::Quit]);
        assert!(m.quit);
    }

    #[test]
    fn typing_a_line_sends_it() {
        let mut m = listed3();
        update(&mut m, k('i'));
        for c in "hi!".chars() {
            assert_eq!(update(&mut m, k(c)), []);
        }
        update(&mut m, key(Key::Backspace));
        assert_eq!(
            update(&mut m, key(Key::Enter)),
            [Command::Send(1, "hi\n".into())]
        );
        // Typed keys went to the prompt, not to the actions.
        update(&mut m, k('i'));
        assert_eq!(update(&mut m, k('q')), []);
        assert_eq!(update(&mut m, key(Key::Esc)), []);
        assert!(!m.quit);
    }

    #[test]
    fn a_lifecycle_event_asks_for_one_listing_at_a_time() {
        let mut m = listed3();
        let ev = LiveEvent {
            ts_ms: 1,
            id: 1,
            name: None,
            kind: EventKind::Exited,
            message: "exited".into(),
            stream: None,
            count: None,
        };
        assert_eq!(
            update(&mut m, Event::Lifecycle(ev.clone())),
            [Command::List, Command::Details(1)]
        );
        // Another while the listing is on its way: it is asked for again once it arrives.
        assert_eq!(update(&mut m, Event::Lifecycle(ev)), [Command::Details(1)]);
        let es = vec![entry(1, "web", "exited", &[])];
        assert_eq!(update(&mut m, Event::Listed(es, 11_000)), [Command::List]);
        // The tick asks only when nothing is on its way.
        assert_eq!(update(&mut m, Event::Tick(12_000)), []);
        let es = vec![entry(1, "web", "exited", &[])];
        assert_eq!(
            update(&mut m, Event::Listed(es.clone(), 12_000)),
            [Command::List]
        );
        assert_eq!(update(&mut m, Event::Listed(es, 13_000)), []);
        assert_eq!(update(&mut m, Event::Tick(14_000)), [Command::List]);
    }

    #[test]
    fn a_removed_entry_passes_the_selection_to_its_neighbour() {
        let mut m = listed3();
        update(&mut m, k('j'));
        m.listing = true;
        let es = vec![
            entry(1, "web", "running", &[]),
            entry(3, "job", "exited", &[]),
        ];
        let cmds = update(&mut m, Event::Listed(es, 20_000));
        assert_eq!(cmds, [Command::Follow(1)]);
        assert_eq!(m.history.len(), 2);
        assert_eq!(m.history_of(1).unwrap().len(), 2);
    }

    #[test]
    fn the_filter_narrows_the_list_and_moves_the_selection() {
        let mut m = listed3();
        update(&mut m, k('f'));
        for c in "state:exited".chars() {
            update(&mut m, k(c));
        }
        assert_eq!(update(&mut m, key(Key::Enter)), [Command::Follow(3)]);
        assert_eq!(m.rows(), [Row::Entry(3)]);
        m.filter = "DB".into();
        assert_eq!(m.rows(), [Row::Entry(2)]);
        m.filter = "group:front".into();
        assert_eq!(m.rows(), [Row::Entry(1), Row::Entry(3)]);
    }

    #[test]
    fn the_tree_view_groups_entries() {
        let mut m = listed3();
        update(&mut m, k('t'));
        assert_eq!(
            m.rows(),
            [
                Row::Group("front".into()),
                Row::Entry(1),
                Row::Entry(3),
                Row::Group("(no group)".into()),
                Row::Entry(2),
            ]
        );
        // Moving skips the headings.
        assert_eq!(update(&mut m, k('j')), [Command::Follow(3)]);
    }

    #[test]
    fn output_search_moves_between_matches() {
        let mut m = listed3();
        update(
            &mut m,
            Event::Output(
                1,
                b"one ERR\ntwo\nthree err\x1b[31m!\x1b[0m\nfour\n".to_vec(),
            ),
        );
        assert_eq!(m.output.lines[2], "three err!");
        // A stream that begins a little before the end of the output drops its first,
        // partial, line.
        let mut o = crate::tui::model::Output {
            mid_line: true,
            ..Default::default()
        };
        o.push(b"end of a line\nwhole\n");
        assert_eq!(o.lines, ["whole"]);
        // Output of another entry (a stream being replaced) is not shown.
        update(&mut m, Event::Output(2, b"other\n".to_vec()));
        assert_eq!(m.output.len(), 4);
        update(&mut m, k('/'));
        for c in "err".chars() {
            update(&mut m, k(c));
        }
        update(&mut m, key(Key::Enter));
        assert_eq!(m.found, Some(2));
        update(&mut m, k('n'));
        assert_eq!(m.found, Some(0));
        update(&mut m, k('n'));
        assert_eq!(m.found, Some(0));
        assert!(m.message.as_deref().unwrap().contains("no more matches"));
        update(&mut m, k('N'));
        assert_eq!(m.found, Some(2));
        // An uppercase letter makes the search case-sensitive.
        m.search = "ERR".into();
        assert_eq!(m.matches(), [0]);
    }

    #[test]
    fn the_help_overlay_closes_on_any_key() {
        let mut m = listed3();
        update(&mut m, k('?'));
        assert_eq!(m.mode, Mode::Help);
        assert_eq!(update(&mut m, k('s')), []);
        assert_eq!(m.mode, Mode::Normal);
    }

    #[test]
    fn mouse_selects_and_scrolls() {
        let mut m = listed3();
        // 80x24: the list is rows 0..9, its entries from row 2.
        let click = |x, y| Event::Input(Input::Mouse(Mouse::Click(x, y)));
        assert_eq!(update(&mut m, click(5, 4)), [Command::Follow(3)]);
        assert_eq!(update(&mut m, click(5, 1)), []);
        let up = Event::Input(Input::Mouse(Mouse::ScrollUp(5, 3)));
        assert_eq!(update(&mut m, up), [Command::Follow(2)]);
        let lines: String = (0..100).map(|i| format!("{i}\n")).collect();
        update(&mut m, Event::Output(2, lines.into_bytes()));
        let out = m.layout().output;
        update(
            &mut m,
            Event::Input(Input::Mouse(Mouse::ScrollUp(out.x + 1, out.y + 1))),
        );
        assert_eq!(m.output.back, 3);
    }

    #[test]
    fn a_resize_keeps_the_selection_visible() {
        let mut m = Model::new(80, 40, true);
        m.listing = true;
        let es = (1..=30).map(|i| entry(i, "x", "running", &[])).collect();
        update(&mut m, Event::Listed(es, 1));
        update(&mut m, key(Key::End));
        assert_eq!(m.selected, Some(30));
        update(&mut m, Event::Resize(80, 24));
        let n = m.layout().list_rows();
        assert!(m.top + n >= 30 && m.top < 30, "top {} rows {n}", m.top);
    }
}
