//! Embeds the guest component this host is built with, so the binary finds
//! its guest without configuration (`guest_module:` overrides it).
//!
//! The guest is a separate wasm32-wasip2 build (`make` runs it first). It is
//! looked up at `$IMAPD_GUEST_WASM`, else at
//! `<target-dir>/wasm32-wasip2/guest-release/guest.wasm`. Without one, an
//! empty placeholder is embedded and the server asks for `guest_module`.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-env-changed=IMAPD_GUEST_WASM");
    let candidate = match std::env::var_os("IMAPD_GUEST_WASM") {
        Some(p) => Some(PathBuf::from(p)),
        // OUT_DIR is <target>/<profile>/build/<pkg>/out.
        None => out
            .ancestors()
            .nth(4)
            .map(|t| t.join("wasm32-wasip2/guest-release/guest.wasm")),
    };
    let dest = out.join("guest.wasm");
    match candidate {
        Some(p) if p.is_file() => {
            println!("cargo:rerun-if-changed={}", p.display());
            std::fs::copy(&p, &dest).expect("copying the guest component");
        }
        other => {
            if let Some(p) = other {
                // Rebuild once the guest appears.
                println!("cargo:rerun-if-changed={}", p.display());
                if let Some(dir) = p.parent() {
                    println!("cargo:rerun-if-changed={}", dir.display());
                }
            }
            std::fs::write(&dest, b"").expect("writing the guest placeholder");
        }
    }
}
