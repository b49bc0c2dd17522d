// A build script is a program too: Cargo links it (for the host) before it runs it.
fn main() {
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=LPHELLO_PROFILE={}", profile);
    println!("cargo:rerun-if-changed=build.rs");
}
