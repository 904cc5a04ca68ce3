//! `wrangle top`: a full-screen live dashboard. [`model`] holds the data, [`update`] folds
//! events into it (pure, table-tested), [`view`] draws it with ratatui widgets through our
//! small [`backend`]; [`term`] takes the terminal and always gives it back, [`input`] decodes
//! keys and mouse reports, and [`app`] runs the loop: events from the daemon's subscription,
//! the selected entry's output stream, a listing with CPU and memory every 2 seconds.

pub mod app;
pub mod backend;
pub mod input;
pub mod model;
pub mod term;
pub mod update;
pub mod view;

pub use app::run;
