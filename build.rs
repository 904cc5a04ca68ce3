//! Build script: on glibc targets, links the GCC unwinder (libgcc_eh.a) into the binary
//! instead of loading libgcc_s.so.1 at run time.
//!
//! Rust's std asks for `-lgcc_s` on linux-gnu (it uses `_Unwind_*` for backtraces and, in debug
//! builds, for unwinding panics). Loading libgcc_s.so.1 costs every `wrangle` command its
//! mapping and relocation, and its constructor (`__cpu_indicator_init`) runs CPUID several
//! times; in a virtual machine each CPUID is a trap to the hypervisor (8-17 µs each where this
//! was measured), which made libgcc_s as costly as all of wrangle's own code in a `ping`.
//! A linker script named libgcc_s.so, found first on the library path, turns `-lgcc_s` into
//! `-lgcc_eh` (what `gcc -static-libgcc` links): a normal dynamically linked binary that needs
//! libc.so.6 alone. Skipped when the C compiler has no libgcc_eh.a (e.g. a clang toolchain
//! with compiler-rt) and for static builds (musl, or glibc with crt-static), which link the
//! unwinder statically already.
use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |k: &str| env::var(k).unwrap_or_default();
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" || static_crt {
        return;
    }
    // The C compiler rustc links with: cc, unless CC names another.
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let has_eh = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|p| p.is_absolute() && p.is_file());
    if !has_eh {
        println!("cargo:warning=no libgcc_eh.a for {cc}: the binary will load libgcc_s.so.1");
        return;
    }
    let Some(out) = env::var_os("OUT_DIR") else {
        return;
    };
    let dir = PathBuf::from(out).join("static-libgcc");
    if fs::create_dir_all(&dir).is_err()
        || fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").is_err()
    {
        return;
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}
