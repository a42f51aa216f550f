//! An installed `miners` (`cargo install --path crates/miners-cli`) finds the
//! libtorch it was built against: its directory goes into the binary's RPATH
//! (torch-sys reports it as `DEP_TCH_LIBTORCH_LIB`). Binaries under `target/`
//! also find the provisioned copy through `.cargo/config.toml`'s relative RPATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let unix = matches!(
        std::env::var("CARGO_CFG_TARGET_OS").as_deref(),
        Ok("linux" | "macos")
    );
    if let (true, Ok(lib)) = (unix, std::env::var("DEP_TCH_LIBTORCH_LIB")) {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{lib}");
    }
}
