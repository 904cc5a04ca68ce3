//! Terminal entries as screens: a VT screen model fed with a terminal's output (the escape
//! sequences are parsed by the `vt100` crate, itself on `vte`), what it shows rendered as text,
//! ANSI, HTML or JSON, and tmux-style key names turned into the bytes a terminal sends. Plain
//! library code with no daemon or client in it, so the daemon, the CLI and an MCP server can
//! all call it.

pub mod keys;
pub mod render;
pub mod screen;

pub use render::{Format, Snapshot};
pub use screen::Screen;
