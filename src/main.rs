//! The `wrangle` binary: everything lives in the library; this maps it to an exit status.

fn main() {
    std::process::exit(wrangle::cli::main());
}
