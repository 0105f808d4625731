//! Rebuild the guest when the WIT contract changes (the bindings are
//! generated from it at compile time).
fn main() {
    println!("cargo:rerun-if-changed=../wit");
}
