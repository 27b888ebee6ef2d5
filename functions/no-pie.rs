//! The build script of every function (`build = "../no-pie.rs"`): links the binary as a
//! position-dependent executable. Lambda loads it at a fixed address anyway, and without
//! position independence the linker resolves the absolute addresses itself instead of
//! leaving about 0.45 MB of relocations for the loader (issue 13: binary size). The code
//! stays position independent; only the final link changes.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
