//! What a distribution's package relies on: `wrangle --version`, and `wrangle startup`
//! printing a unit or script for each init system that runs this binary with
//! `daemon --resurrect`.

mod common;

use common::Wr;

/// `--version` and `-V` print `wrangle X.Y.Z` (the crate's version) and exit 0, with no
/// daemon started.
#[test]
fn version_flag_prints_the_version() {
    let wr = Wr::new();
    for flag in ["--version", "-V"] {
        let out = wr.ok(&[flag]);
        assert_eq!(
            out.text(),
            format!("wrangle {}\n", env!("CARGO_PKG_VERSION")),
            "`wrangle {flag}`"
        );
    }
    wr.code(&["ping"], 5);
}
